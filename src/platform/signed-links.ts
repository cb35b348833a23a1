import * as NodeCrypto from "node:crypto"
import { Redacted } from "effect"

export interface Signature {
  /** Seconds since the epoch. */
  readonly exp: number
  readonly sig: string
}

/**
 * HMAC signatures over a subject and an expiry, for links that open one thing
 * for a while without a bearer token. Each purpose derives its own key from
 * the server secret, so a signature made for one purpose (or a token) is
 * never valid for another.
 */
export const makeSigner = (secret: Redacted.Redacted<string>, purpose: string) => {
  const key = NodeCrypto.createHmac("sha256", Redacted.value(secret)).update(purpose).digest()
  const signature = (subject: string, exp: string) => NodeCrypto.createHmac("sha256", key).update(`${subject}.${exp}`).digest("base64url")

  const sign = (subject: string, ttlSeconds: number, now = Date.now()): Signature => {
    const exp = Math.floor(now / 1000) + ttlSeconds
    return { exp, sig: signature(subject, String(exp)) }
  }

  /** True when `exp`/`sig` are a valid, unexpired signature of this subject. */
  const verify = (subject: string, exp: string | null, sig: string | null, now = Date.now()): boolean => {
    if (exp === null || sig === null || !/^\d{1,12}$/.test(exp) || Number(exp) * 1000 <= now) return false
    const expected = Buffer.from(signature(subject, exp))
    const given = Buffer.from(sig)
    return expected.length === given.length && NodeCrypto.timingSafeEqual(expected, given)
  }
  return { sign, verify } as const
}
