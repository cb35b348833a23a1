import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Option } from "effect"
import { ServiceUnavailable } from "./api-errors.js"

interface PgErrorLike {
  readonly code?: string
  readonly constraint?: string
  readonly message?: string
}

const pgError = (e: SqlError): PgErrorLike => (typeof e.cause === "object" && e.cause !== null ? e.cause : {}) as PgErrorLike

/** Connection-class failures: the database is away, not the request wrong. */
const isUnavailable = (e: SqlError): boolean => {
  const { code, message = "" } = pgError(e)
  if (code !== undefined && (code.startsWith("08") || code.startsWith("57P") || code === "53300")) return true
  if (code === "ECONNREFUSED" || code === "ECONNRESET" || code === "ETIMEDOUT") return true
  return /connect|terminat|timeout|Connection/.test(message)
}

/** The constraint a unique violation hit, if that is what this error is. */
export const uniqueViolation = (e: SqlError): Option.Option<string> => {
  const { code, constraint } = pgError(e)
  return code === "23505" ? Option.some(constraint ?? "") : Option.none()
}

const isSqlError = (u: unknown): u is SqlError => typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "SqlError"

/** The 503 a client gets for a database that is away or too slow; None for anything else. */
export const unavailableError = (u: unknown): Option.Option<ServiceUnavailable> => {
  if (!isSqlError(u)) return Option.none()
  if (pgError(u).code === "57014") {
    // statement_timeout (DB_STATEMENT_TIMEOUT_MS)
    return Option.some(ServiceUnavailable.of("the database took too long to answer, retry shortly", "DATABASE_TIMEOUT"))
  }
  return isUnavailable(u) ? Option.some(ServiceUnavailable.of("the database is unavailable, retry shortly", "DATABASE_UNAVAILABLE")) : Option.none()
}

/**
 * The 503 for a transaction PostgreSQL rolled back whole to settle a
 * collision with a concurrent one (a deadlock, a serialization failure): it
 * asks for the transaction to be run again. None for anything else.
 */
export const conflictError = (u: unknown): Option.Option<ServiceUnavailable> => {
  const code = isSqlError(u) ? pgError(u).code : undefined
  return code === "40P01" || code === "40001"
    ? Option.some(ServiceUnavailable.of("the request collided with a concurrent one and was not applied, retry it", "DATABASE_CONFLICT"))
    : Option.none()
}

/** What a client may retry: the database away or too slow, or a collision that rolled its transaction back. */
export const retryableError = (u: unknown): Option.Option<ServiceUnavailable> => Option.orElse(unavailableError(u), () => conflictError(u))

/**
 * SqlError never reaches a client as such: an unreachable database, and a
 * transaction aborted by a deadlock or serialization failure, are a 503 the
 * client may retry; anything else is a defect, logged and answered 500.
 */
export const sqlErrors = <A, E, R>(effect: Effect.Effect<A, E | SqlError, R>): Effect.Effect<A, Exclude<E, SqlError> | ServiceUnavailable, R> =>
  Effect.catchIf(effect, isSqlError, (e) =>
    Option.match(retryableError(e), { onNone: () => Effect.die(e), onSome: Effect.fail })
  ) as Effect.Effect<A, Exclude<E, SqlError> | ServiceUnavailable, R>
