import * as NodeFs from "node:fs"
import type * as NodeHttp from "node:http"
import { Multipart } from "@effect/platform"
import { NodeMultipart } from "@effect/platform-node"
import { Duration, Effect, Option, Stream } from "effect"

/**
 * How long a form may keep us waiting for its next part, or a file part for
 * its next bytes, once the request body has been received in full. Everything
 * is in the parser by then, so a real next element (or the end) follows at
 * once; the margin is for a loaded machine.
 */
const AFTER_BODY_GRACE = Duration.seconds(2)

const truncated = () => new Multipart.MultipartError({ reason: "Parse", cause: "the body ended before the form's closing delimiter" })

/** The deadline of each file part that endsWithBody handed out, for writeFilePart. */
const deadlines = new WeakMap<Multipart.File, Effect.Effect<never, Multipart.MultipartError>>()

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
  const deadline = bodyEnded.pipe(Effect.zipRight(Effect.sleep(AFTER_BODY_GRACE)), Effect.zipRight(Effect.fail(truncated())))
  const stalled = Effect.mapError(deadline, Option.some)
  const guard = <A>(stream: Stream.Stream<A, Multipart.MultipartError>): Stream.Stream<A, Multipart.MultipartError> =>
    Stream.unwrapScoped(Effect.map(Stream.toPull(stream), (pull) => Stream.repeatEffectOption(Effect.raceFirst(pull, stalled)).pipe(Stream.flattenChunks)))
  return (parts: Stream.Stream<Multipart.Part, Multipart.MultipartError>): Stream.Stream<Multipart.Part, Multipart.MultipartError> =>
    guard(parts).pipe(
      Stream.map((part): Multipart.Part => {
        if (part._tag !== "File") return part
        const file = Object.assign(Object.create(part) as Multipart.File, { content: guard(part.content) })
        deadlines.set(file, deadline)
        return file
      })
    )
}

/**
 * Writes a file part to `path` by piping its Node stream, and answers the
 * number of bytes. Through the part's `content` stream each chunk took
 * several Effect steps and a race against the body's end: for a 7 MB upload
 * that was more CPU than the rest of the request. A part from endsWithBody
 * keeps its guard, raced once against the whole write: everything the
 * parser still holds when the body ends is a few chunks, written in far
 * less than the grace period.
 *
 * The form's own failures (limits, framing) fail as from `content`; a disk
 * that cannot be written to is a defect.
 */
export const writeFilePart = (part: Multipart.File, path: string): Effect.Effect<number, Multipart.MultipartError> => {
  const write = Effect.async<number, Multipart.MultipartError>((resume) => {
    const source = NodeMultipart.fileToReadable(part)
    const sink = NodeFs.createWriteStream(path)
    let settled = false
    const settle = (result: Effect.Effect<number, Multipart.MultipartError>) => {
      if (settled) return
      settled = true
      resume(result)
    }
    // Stays attached: the parser may report a late error on a file already read, and an unheard "error" event throws.
    source.on("error", (cause) => {
      source.unpipe(sink)
      sink.destroy()
      settle(Effect.fail(new Multipart.MultipartError({ reason: "InternalError", cause })))
    })
    sink.on("error", (error) => {
      source.unpipe(sink)
      settle(Effect.die(error))
    })
    sink.once("finish", () => settle(Effect.succeed(sink.bytesWritten)))
    source.pipe(sink)
    return Effect.sync(() => {
      settled = true
      source.unpipe(sink)
      sink.destroy()
    })
  })
  const deadline = deadlines.get(part)
  return deadline === undefined ? write : Effect.raceFirst(write, deadline)
}
