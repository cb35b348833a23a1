import type * as NodeHttp from "node:http"
import { Multipart } from "@effect/platform"
import { Duration, Effect, Option, Stream } from "effect"

/**
 * How long a form may keep us waiting for its next part, or a file part for
 * its next bytes, once the request body has been received in full. Everything
 * is in the parser by then, so a real next element (or the end) follows at
 * once; the margin is for a loaded machine.
 */
const AFTER_BODY_GRACE = Duration.seconds(2)

const truncated = () => new Multipart.MultipartError({ reason: "Parse", cause: "the body ended before the form's closing delimiter" })

/**
 * Guards a form's parts stream, and each file part's bytes, against bodies
 * that end too early. multipasta neither finishes nor fails when the body
 * stops between two parts without the closing delimiter (an empty body, a
 * lone `--boundary`), and the error it raises for a body that stops inside a
 * file goes out before anyone reads that file, so it is lost. Either way the
 * request would hang for as long as the client keeps the connection open.
 */
export const endsWithBody = (body: NodeHttp.IncomingMessage) => {
  const bodyEnded = Effect.async<void>((resume) => {
    if (body.readableEnded) return resume(Effect.void)
    const done = () => resume(Effect.void)
    body.once("end", done)
    return Effect.sync(() => body.off("end", done))
  })
  const stalled = bodyEnded.pipe(Effect.zipRight(Effect.sleep(AFTER_BODY_GRACE)), Effect.zipRight(Effect.fail(Option.some(truncated()))))
  const guard = <A>(stream: Stream.Stream<A, Multipart.MultipartError>): Stream.Stream<A, Multipart.MultipartError> =>
    Stream.unwrapScoped(Effect.map(Stream.toPull(stream), (pull) => Stream.repeatEffectOption(Effect.raceFirst(pull, stalled)).pipe(Stream.flattenChunks)))
  return (parts: Stream.Stream<Multipart.Part, Multipart.MultipartError>): Stream.Stream<Multipart.Part, Multipart.MultipartError> =>
    guard(parts).pipe(
      Stream.map((part): Multipart.Part => (part._tag === "File" ? Object.assign(Object.create(part) as Multipart.File, { content: guard(part.content) }) : part))
    )
}
