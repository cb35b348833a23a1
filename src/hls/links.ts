import { Effect } from "effect"
import { AppConfig } from "../platform/config.js"
import { makeSigner } from "../platform/signed-links.js"
import { StreamingConfig } from "../tracks/config.js"

export interface SignedLink {
  /** `exp=…&sig=…`, appended to every URL of the track's HLS. */
  readonly query: string
  readonly expiresAt: Date
}

/**
 * Signed, expiring HLS links. The signature covers the track and the expiry,
 * not a path, so one link opens the master playlist and everything it names;
 * the server rewrites child URIs to carry it.
 */
export class StreamLinks extends Effect.Service<StreamLinks>()("veza/StreamLinks", {
  effect: Effect.gen(function* () {
    const app = yield* AppConfig
    const streaming = yield* StreamingConfig
    const signer = makeSigner(app.jwtSecret, "veza/hls-links/v1")

    const sign = (trackId: string, now = Date.now()): SignedLink => {
      const { exp, sig } = signer.sign(trackId, streaming.streamLinkTtlSeconds, now)
      return { query: `exp=${exp}&sig=${sig}`, expiresAt: new Date(exp * 1000) }
    }

    return { sign, verify: signer.verify } as const
  }),
  dependencies: [StreamingConfig.Default]
}) {}
