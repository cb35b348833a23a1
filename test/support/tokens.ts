import * as NodeCrypto from "node:crypto"
import * as Jose from "jose"
import { query } from "./database.js"

/** The secret a test server signs with, so that tests can forge tokens the way an attacker with the secret (or without it) would. */
export const TEST_JWT_SECRET = "fuzz-and-authz-test-secret-0123456789abcdef"
export const ISSUER = "veza-api"
export const AUDIENCE = "veza-app"

export interface Claims {
  readonly sub: string
  readonly role?: string
  readonly token_version?: number
  readonly iss?: string
  readonly aud?: string
  /** Seconds since the epoch. */
  readonly exp?: number
}

/** An HS256 access token with these claims (defaults: a valid one), signed with `secret`. */
export const signToken = (claims: Claims, secret = TEST_JWT_SECRET) =>
  new Jose.SignJWT({ role: claims.role ?? "user", token_version: claims.token_version ?? 0 })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuer(claims.iss ?? ISSUER)
    .setAudience(claims.aud ?? AUDIENCE)
    .setIssuedAt()
    .setJti(NodeCrypto.randomUUID())
    .setExpirationTime(claims.exp ?? Math.floor(Date.now() / 1000) + 900)
    .sign(new TextEncoder().encode(secret))

/** The same claims with `alg: none` and no signature. */
export const unsignedToken = (claims: Claims) =>
  new Jose.UnsecuredJWT({ role: claims.role ?? "user", token_version: claims.token_version ?? 0 })
    .setSubject(claims.sub)
    .setIssuer(claims.iss ?? ISSUER)
    .setAudience(claims.aud ?? AUDIENCE)
    .setExpirationTime(claims.exp ?? Math.floor(Date.now() / 1000) + 900)
    .encode()

/** A valid access token for a user as the database has them now (role, token_version). */
export const tokenFor = async (databaseUrl: string, userId: string) => {
  const [row] = await query<{ role: string; token_version: number }>(databaseUrl, "select role::text, token_version from users where id = $1", [userId])
  if (row === undefined) throw new Error(`no user ${userId}`)
  return signToken({ sub: userId, role: row.role, token_version: row.token_version })
}
