import * as NodeCrypto from "node:crypto"
import { Effect, Option, Redacted } from "effect"
import * as Jose from "jose"
import { AppConfig } from "../platform/config.js"
import type { UserId, UserRole } from "../users/schema.js"

export interface AccessClaims {
  readonly sub: UserId
  readonly role: UserRole
  readonly token_version: number
}

/** 256 bits of randomness for refresh, verification and reset tokens. */
export const opaqueToken = () => NodeCrypto.randomBytes(32).toString("base64url")

/** Only this digest is stored, so a database leak yields no usable token. */
export const tokenDigest = (token: string) => NodeCrypto.createHash("sha256").update(token).digest("hex")

export class AccessTokens extends Effect.Service<AccessTokens>()("veza/AccessTokens", {
  effect: Effect.gen(function* () {
    const config = yield* AppConfig
    // Imported once: given raw bytes, jose would import the key again on every signature and verification.
    const key = yield* Effect.promise(() =>
      crypto.subtle.importKey("raw", new TextEncoder().encode(Redacted.value(config.jwtSecret)), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"])
    )
    /**
     * Access tokens by default; a purpose (such as "chat") gives a token of
     * its own audience that only that purpose's verifier accepts.
     */
    const issue = (claims: AccessClaims, options: { readonly purpose?: string; readonly ttlSeconds?: number } = {}) =>
      Effect.promise(() =>
        new Jose.SignJWT({ role: claims.role, token_version: claims.token_version })
          .setProtectedHeader({ alg: "HS256", typ: "JWT" })
          .setSubject(claims.sub)
          .setIssuer(config.jwtIssuer)
          .setAudience(audienceFor(options.purpose))
          .setIssuedAt()
          .setJti(NodeCrypto.randomUUID())
          .setExpirationTime(`${options.ttlSeconds ?? config.accessTokenTtlSeconds}s`)
          .sign(key)
      )
    const audienceFor = (purpose: string | undefined) => (purpose === undefined ? config.jwtAudience : `${config.jwtAudience}:${purpose}`)
    /**
     * None for anything but a valid, unexpired HS256 token of ours, for this
     * purpose (or for any of several: undefined stands for access tokens).
     */
    const verify = (token: string, purpose?: string | ReadonlyArray<string | undefined>) =>
      Effect.promise(
        (): Promise<Option.Option<AccessClaims>> =>
          Jose.jwtVerify(token, key, {
            algorithms: ["HS256"],
            issuer: config.jwtIssuer,
            audience: typeof purpose === "object" ? purpose.map(audienceFor) : audienceFor(purpose)
          }).then(
            ({ payload: p }) =>
              typeof p.sub === "string" && typeof p.role === "string" && typeof p.token_version === "number"
                ? Option.some({ sub: p.sub as UserId, role: p.role as UserRole, token_version: p.token_version })
                : Option.none(),
            () => Option.none()
          )
      )
    return { issue, verify, ttlSeconds: config.accessTokenTtlSeconds } as const
  }),
  dependencies: [AppConfig.Default]
}) {}
