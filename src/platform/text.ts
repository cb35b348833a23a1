import { Schema } from "effect"

/**
 * Text that may be stored: PostgreSQL refuses NUL in text columns, so it is
 * refused here as invalid input (400) instead of failing in the database (500).
 */
export const StoredText = Schema.String.pipe(
  Schema.filter((s) => !s.includes("\u0000"), { message: () => "must not contain NUL characters" })
)
