import type * as NodeHttp from "node:http"
import { Multipart } from "@effect/platform"
import { Duration, Effect, Option, Stream } from "effect"

/**
 * How long a form may keep us waiting for its next part once the request body
 * has been received in full. Everything is in the parser by then, so a real
 * next part (or the end) follows within a tick; the margin is for a loaded
 * machine.
 */
const AFTER_BODY_GRACE = Duration.seconds(2)

/**
 * Ends a form's parts stream when the body ended without the closing
 * delimiter between two parts (an empty body, `--boundary` and nothing else):
 * multipasta then neither finishes nor fails, and the request would hang for
 * as long as the client keeps the connection open.
 */
export const endsWithBody =
  (body: NodeHttp.IncomingMessage) =>
  <A>(parts: Stream.Stream<A, Multipart.MultipartError>): Stream.Stream<A, Multipart.MultipartError> => {
    const bodyEnded = Effect.async<void>((resume) => {
      if (body.readableEnded) return resume(Effect.void)
      const done = () => resume(Effect.void)
      body.once("end", done)
      return Effect.sync(() => body.off("end", done))
    })
    const stalled = bodyEnded.pipe(
      Effect.zipRight(Effect.sleep(AFTER_BODY_GRACE)),
      Effect.zipRight(Effect.fail(Option.some(new Multipart.MultipartError({ reason: "Parse", cause: "the body ended before the form's closing boundary" }))))
    )
    return Stream.unwrapScoped(
      Effect.map(Stream.toPull(parts), (pull) => Stream.repeatEffectOption(Effect.raceFirst(pull, stalled)).pipe(Stream.flattenChunks))
    )
  }
