import { Effect, Layer, Option, Redacted } from "effect"
import { Unauthorized } from "../platform/api-errors.js"
import { sqlErrors } from "../platform/sql-errors.js"
import { Authentication } from "./api.js"
import type { Actor } from "./current-user.js"
import { AuthRepo } from "./repo.js"
import { AccessTokens } from "./tokens.js"

const rejected = () => Unauthorized.of("missing, invalid or expired access token", "INVALID_TOKEN")

/**
 * Resolves a bearer access token to its user. The signature proves who
 * issued it; the database says whether it still counts: a token minted before
 * the last logout-all or password change carries an old `token_version`.
 */
export class Authenticator extends Effect.Service<Authenticator>()("veza/Authenticator", {
  effect: Effect.gen(function* () {
    const tokens = yield* AccessTokens
    const repo = yield* AuthRepo
    const authenticate = (token: string, purpose?: string | ReadonlyArray<string | undefined>) =>
      Effect.gen(function* () {
        const claims = yield* tokens.verify(token, purpose)
        if (Option.isNone(claims)) return yield* rejected()
        const credentials = yield* repo.credentialsById(claims.value.sub)
        if (Option.isNone(credentials)) return yield* rejected()
        const c = credentials.value
        if (c.token_version !== claims.value.token_version || c.is_banned || !c.is_active) return yield* rejected()
        return { id: c.id, role: c.role } satisfies Actor
      }).pipe(sqlErrors)
    /** A short-lived token for one purpose (the chat gateway's `?token=`), bound to the same token_version. */
    const issuePurposeToken = (actor: Actor, purpose: string, ttlSeconds: number) =>
      Effect.gen(function* () {
        const credentials = yield* repo.credentialsById(actor.id)
        if (Option.isNone(credentials)) return yield* rejected()
        const token = yield* tokens.issue({ sub: actor.id, role: actor.role, token_version: credentials.value.token_version }, { purpose, ttlSeconds })
        return { token, expiresIn: ttlSeconds }
      }).pipe(sqlErrors)
    return { authenticate, issuePurposeToken } as const
  }),
  dependencies: [AccessTokens.Default, AuthRepo.Default]
}) {}

export const AuthenticationLive = Layer.effect(
  Authentication,
  Effect.map(Authenticator, (authenticator) => ({
    bearer: (token: Redacted.Redacted<string>) => authenticator.authenticate(Redacted.value(token))
  }))
)

/**
 * For calls that anyone may make but that show more to some: no
 * Authorization header means anonymous; a header that does not authenticate
 * is still refused, so a client with a stale token learns it.
 */
export const optionalActor = (authenticator: Authenticator, headers: Readonly<Record<string, string | undefined>>) => {
  const header = headers["authorization"]
  if (header === undefined) return Effect.succeed(undefined)
  const token = bearerToken(header)
  return token === undefined ? Effect.fail(rejected()) : authenticator.authenticate(token)
}

/** Whether optionalActor runs this call anonymously: then every caller gets the same answer. */
export const isAnonymous = (headers: Readonly<Record<string, string | undefined>>) => headers["authorization"] === undefined

/** The token of an `Authorization: Bearer <token>` header, if that is what it is. */
export const bearerToken = (authorization: string | undefined) => {
  const match = authorization === undefined ? null : /^Bearer\s+(\S+)$/i.exec(authorization)
  return match === null ? undefined : match[1]
}

/** Runs `f` as the caller when a token is sent (see optionalActor), anonymously otherwise. */
export const withOptionalActor =
  (authenticator: Authenticator) =>
  <A, E, R>(headers: Readonly<Record<string, string | undefined>>, f: (actor: Actor | undefined) => Effect.Effect<A, E, R>) =>
    Effect.flatMap(optionalActor(authenticator, headers), f)
