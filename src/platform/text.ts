import { Schema } from "effect"

/**
 * Text that may be stored: PostgreSQL refuses NUL in text columns, so it is
 * refused here as invalid input (400) instead of failing in the database (500).
 */
export const StoredText = Schema.String.pipe(
  Schema.filter((s) => !s.includes("\u0000"), { message: () => "must not contain NUL characters" })
)

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** For ids that arrive outside a schema (cursors, link paths): PostgreSQL would refuse anything else. */
export const isUuid = (s: string) => UUID.test(s)
