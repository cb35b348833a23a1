import * as NodeCrypto from "node:crypto"
import { Effect, Redacted } from "effect"
import { AppConfig } from "../platform/config.js"
import { StreamingConfig } from "../tracks/config.js"

export interface SignedLink {
  /** `exp=…&sig=…`, appended to every URL of the track's HLS. */
  readonly query: string
  readonly expiresAt: Date
}

/**
 * Signed, expiring HLS links. The signature covers the track and the expiry,
 * not a path, so one link opens the master playlist and everything it names;
 * the server rewrites child URIs to carry it. The key is derived from
 * JWT_SECRET for this one purpose, so a link is never a valid token.
 */
export class StreamLinks extends Effect.Service<StreamLinks>()("veza/StreamLinks", {
  effect: Effect.gen(function* () {
    const app = yield* AppConfig
    const streaming = yield* StreamingConfig
    const key = NodeCrypto.createHmac("sha256", Redacted.value(app.jwtSecret)).update("veza/hls-links/v1").digest()
    const signature = (trackId: string, exp: string) =>
      NodeCrypto.createHmac("sha256", key).update(`${trackId}.${exp}`).digest("base64url")

    const sign = (trackId: string, now = Date.now()): SignedLink => {
      const exp = Math.floor(now / 1000) + streaming.streamLinkTtlSeconds
      return { query: `exp=${exp}&sig=${signature(trackId, String(exp))}`, expiresAt: new Date(exp * 1000) }
    }

    /** True when `exp`/`sig` are a valid, unexpired signature for this track. */
    const verify = (trackId: string, exp: string | null, sig: string | null, now = Date.now()): boolean => {
      if (exp === null || sig === null || !/^\d{1,12}$/.test(exp) || Number(exp) * 1000 <= now) return false
      const expected = Buffer.from(signature(trackId, exp))
      const given = Buffer.from(sig)
      return expected.length === given.length && NodeCrypto.timingSafeEqual(expected, given)
    }
    return { sign, verify } as const
  }),
  dependencies: [StreamingConfig.Default]
}) {}
