import { Option } from "effect"

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
/** What `to_char(at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` gives: microseconds, which a JS Date would lose. */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/

export interface Position {
  /** An exact timestamp, passed back to PostgreSQL as text. */
  readonly at: string
  readonly id: string
}

/**
 * Keyset cursors over (timestamp, id): opaque to clients, and checked on the
 * way in so that anything PostgreSQL would refuse is a bad cursor (400), not
 * a 500.
 */
export const encodeCursor = (position: Position) => Buffer.from(JSON.stringify([position.at, position.id])).toString("base64url")

export const decodeCursor = (cursor: string): Option.Option<Position> => {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))
    if (!Array.isArray(decoded) || decoded.length !== 2) return Option.none()
    const [at, id] = decoded as [unknown, unknown]
    if (typeof at !== "string" || typeof id !== "string" || !INSTANT.test(at) || !UUID.test(id)) return Option.none()
    const year = Number(at.slice(0, 4))
    return Number.isNaN(Date.parse(at)) || year < 1 ? Option.none() : Option.some({ at, id })
  } catch {
    return Option.none()
  }
}
