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

/** Verified access tokens remembered (oldest forgotten first): a few MB at most. */
const VERIFIED_TOKENS = 10_000

export class AccessTokens extends Effect.Service<AccessTokens>()("veza/AccessTokens", {
  effect: Effect.gen(function* () {
    const config = yield* AppConfig
    // Imported once: given raw bytes, jose would import the key again on every signature and verification.
    const secret = yield* Effect.promise(() =>
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
          .sign(secret)
      )
    const audienceFor = (purpose: string | undefined) => (purpose === undefined ? config.jwtAudience : `${config.jwtAudience}:${purpose}`)
    const audiencesFor = (purpose?: string | ReadonlyArray<string | undefined>) =>
      typeof purpose === "object" ? purpose.map(audienceFor) : audienceFor(purpose)
    /**
     * Tokens whose signature and claims were verified, until they expire: a
     * client polling with the same token (a track's transcode status, several
     * times a second) would otherwise cost an HMAC through WebCrypto's thread pool per
     * request, the largest single part of such a read. Only the signature
     * check is skipped: whether the token still counts (token_version, bans)
     * is the database's answer, asked on every request by the Authenticator.
     * The key is the exact token and the audiences asked for; the secret does
     * not change while the process runs, so a string that verified once
     * always would, until its `exp`.
     */
    const verified = new Map<string, { readonly claims: AccessClaims; readonly exp: number }>()
    /**
     * None for anything but a valid, unexpired HS256 token of ours, for this
     * purpose (or for any of several: undefined stands for access tokens).
     */
    const verify = (token: string, purpose?: string | ReadonlyArray<string | undefined>) =>
      Effect.suspend(() => {
        const audience = audiencesFor(purpose)
        const cacheKey = `${typeof audience === "string" ? audience : audience.join("\n")}\n${token}`
        const known = verified.get(cacheKey)
        if (known !== undefined) {
          // As jose decides it: expired once `exp` is not after the current whole second.
          if (known.exp > Math.floor(Date.now() / 1000)) return Effect.succeed(Option.some(known.claims))
          verified.delete(cacheKey)
          return Effect.succeed(Option.none())
        }
        return Effect.promise(
          (): Promise<Option.Option<AccessClaims>> =>
            Jose.jwtVerify(token, secret, { algorithms: ["HS256"], issuer: config.jwtIssuer, audience }).then(
              ({ payload: p }) => {
                if (typeof p.sub !== "string" || typeof p.role !== "string" || typeof p.token_version !== "number") return Option.none()
                const claims: AccessClaims = { sub: p.sub as UserId, role: p.role as UserRole, token_version: p.token_version }
                // A token without an expiry, or not valid before some time, is checked in full every time.
                if (typeof p.exp === "number" && p.nbf === undefined) {
                  if (verified.size >= VERIFIED_TOKENS) verified.delete(verified.keys().next().value!)
                  verified.set(cacheKey, { claims, exp: p.exp })
                }
                return Option.some(claims)
              },
              () => Option.none()
            )
        )
      })
    return { issue, verify, ttlSeconds: config.accessTokenTtlSeconds } as const
  }),
  dependencies: [AppConfig.Default]
}) {}
