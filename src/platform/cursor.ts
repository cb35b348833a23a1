import { Statement } from "@effect/sql"
import { isUuid } from "./text.js"
import { Effect, Option, Schema } from "effect"
import { BadRequest } from "./api-errors.js"

/** The form `timeCursorColumn` gives: microseconds kept, so rows created within one millisecond are not skipped. */
const MICROS_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/

/**
 * The SQL expression for a row's place in a newest-first list, as text with
 * PostgreSQL's microseconds (a JS Date would drop them); compare it back with
 * `(created_at, id) < (${at}::timestamptz, ${id})`, which the indexes serve.
 */
export const timeCursorColumn = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

/** A list position "after (at, id)" for lists ordered newest first. */
export interface TimeCursor {
  readonly at: string
  readonly id: string
}

const invalidCursor = () => BadRequest.of("cursor is not one this API returned", "INVALID_CURSOR")

const decodeJson = (cursor: string): unknown => {
  try {
    return JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))
  } catch {
    return undefined
  }
}

export const encodeTimeCursor = (at: string, id: string) => Buffer.from(JSON.stringify([at, id])).toString("base64url")

/**
 * Anything PostgreSQL would refuse (a malformed uuid, a year it cannot store)
 * is a bad cursor answered 400, never a failed query answered 500.
 */
export const decodeTimeCursor = (cursor: string | undefined): Effect.Effect<Option.Option<TimeCursor>, BadRequest> => {
  if (cursor === undefined) return Effect.succeed(Option.none())
  const value = decodeJson(cursor)
  if (Array.isArray(value) && value.length === 2) {
    const [at, id] = value as [unknown, unknown]
    if (typeof at === "string" && MICROS_UTC.test(at) && !Number.isNaN(Date.parse(at)) && typeof id === "string" && isUuid(id)) {
      return Effect.succeed(Option.some({ at, id }))
    }
  }
  return Effect.fail(invalidCursor())
}

export const encodeNumberCursor = (n: number) => Buffer.from(JSON.stringify([n])).toString("base64url")

/** The largest PostgreSQL `integer`: a bigger cursor would fail the query instead of being refused. */
const MAX_INT4 = 2_147_483_647

export const decodeNumberCursor = (cursor: string | undefined): Effect.Effect<Option.Option<number>, BadRequest> => {
  if (cursor === undefined) return Effect.succeed(Option.none())
  const value = decodeJson(cursor)
  return Array.isArray(value) && value.length === 1 && Number.isInteger(value[0]) && value[0] >= 0 && value[0] <= MAX_INT4
    ? Effect.succeed(Option.some(value[0] as number))
    : Effect.fail(invalidCursor())
}

/** One page from `limit + 1` rows: the extra row only says that another page exists. */
export const pageOf = <A>(rows: ReadonlyArray<A>, limit: number, cursorOf: (last: A) => string) => {
  const items = rows.slice(0, limit)
  return { items, next_cursor: rows.length > limit ? cursorOf(items[items.length - 1]!) : null }
}

/** `?cursor=&limit=` of a list call. */
export const PageParams = (maxLimit: number) => ({
  cursor: Schema.optional(Schema.String.pipe(Schema.maxLength(200))),
  limit: Schema.optional(
    Schema.NumberFromString.pipe(
      Schema.int({ message: () => "limit must be an integer" }),
      Schema.between(1, maxLimit, { message: () => `limit must be between 1 and ${maxLimit}` })
    )
  )
})

export const Page = <A, I, R>(item: Schema.Schema<A, I, R>) => Schema.Struct({ items: Schema.Array(item), next_cursor: Schema.NullOr(Schema.String) })

/**
 * A row limit written into the statement rather than passed as a parameter.
 * Statements run prepared (src/platform/database.ts), and PostgreSQL stops
 * planning one only when its generic plan costs about what the custom ones
 * did: with `limit $n` the generic plan is costed for a tenth of the table
 * (for a page of 21 tracks, 400 times the custom plan), so every run was
 * planned again. A handful of page sizes makes a handful of statements.
 */
export const rowLimit = (n: number) => {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`row limit ${n} is not a count`)
  return Statement.unsafeFragment(String(n))
}
