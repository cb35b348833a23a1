import { HttpServerResponse } from "@effect/platform"
import type { Schema } from "effect"

/**
 * A 200 JSON answer written with `JSON.stringify` alone, for a hot read whose
 * value is already in its schema's encoded shape: plain objects with exactly
 * the schema's fields, in the schema's order, whose only non-JSON values are
 * `Date`s (`toJSON` gives `toISOString`, which is what `Schema.Date` encodes
 * to). The bytes are then the ones the endpoint's success schema would have
 * written, without walking every field of every item through it: the schema
 * encode was ~15 µs per track, more than half the server's CPU for a page of
 * 20. The endpoint keeps declaring `schema` (OpenAPI, clients); a test
 * checks each such endpoint's bytes against the schema on real rows.
 */
export const encodedJson =
  <A, I>(_schema: Schema.Schema<A, I>) =>
  (value: A): HttpServerResponse.HttpServerResponse =>
    HttpServerResponse.unsafeJson(value)

/** The SQL for `column` as `Date#toJSON` writes it (UTC, milliseconds, `Z`): what `Schema.Date` encodes to. */
export const isoMillisColumn = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

/**
 * A 200 answer whose JSON text PostgreSQL wrote in the endpoint's success
 * schema's encoded shape; a test checks its bytes against the schema, as for
 * `encodedJson`.
 */
export const jsonText = (text: string): HttpServerResponse.HttpServerResponse => HttpServerResponse.text(text, { contentType: "application/json" })
