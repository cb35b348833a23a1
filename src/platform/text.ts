import { Schema } from "effect"

/** With the `u` flag a surrogate pair is one code point, so this matches only a surrogate without its other half. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u

/**
 * Text that may be stored as it was sent. PostgreSQL refuses NUL in text
 * columns and cannot hold a lone UTF-16 surrogate (UTF-8 has no encoding for
 * one: the driver would silently store U+FFFD, and jsonb refuses it), so both
 * are refused here as invalid input (400) instead of failing in the database
 * or changing what was written.
 */
export const StoredText = Schema.String.pipe(
  Schema.filter((s) => !s.includes("\u0000"), { message: () => "must not contain NUL characters" }),
  Schema.filter((s) => !LONE_SURROGATE.test(s), { message: () => "must be valid Unicode text (a lone surrogate cannot be stored)" })
)

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** For ids that arrive outside a schema (cursors, link paths): PostgreSQL would refuse anything else. */
export const isUuid = (s: string) => UUID.test(s)
