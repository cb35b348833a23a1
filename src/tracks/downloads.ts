import { HttpLayerRouter, HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeStream } from "@effect/platform-node"
import { Effect, Option } from "effect"
import { errorBody } from "../platform/api-errors.js"
import { attachmentDisposition } from "../platform/attachment.js"
import { AppConfig } from "../platform/config.js"
import { makeSigner } from "../platform/signed-links.js"
import { Storage } from "../platform/storage.js"
import { TrackLibraryConfig } from "./config.js"
import { TracksRepo } from "./repo.js"
import { TrackId } from "./schema.js"
import { isUuid } from "../platform/text.js"

export const TRACK_DOWNLOAD_PATHS = ["/downloads/tracks/:id"] as const


const AUDIO_TYPES: Record<string, string> = {
  mp3: "audio/mpeg",
  wav: "audio/wav",
  flac: "audio/flac",
  m4a: "audio/mp4",
  aac: "audio/aac",
  ogg: "audio/ogg",
  opus: "audio/ogg"
}

const contentTypeOf = (filename: string) => AUDIO_TYPES[/\.([A-Za-z0-9]+)$/.exec(filename)?.[1]?.toLowerCase() ?? ""] ?? "application/octet-stream"

/**
 * Signed, expiring links to a track's original file. Whoever may download
 * gets one from the API; the link itself needs no token, so it works in a
 * browser's download manager. The key is derived from JWT_SECRET for this
 * purpose only, so a link is neither a token nor an HLS link.
 *
 * A link given to someone other than the owner or an admin says so
 * (`for=listener`, signed with it) and keeps working only while anyone may
 * still download the track: made private, hidden by a moderator or no longer
 * downloadable, its links stop at once instead of when they expire.
 */
export class TrackDownloadLinks extends Effect.Service<TrackDownloadLinks>()("veza/TrackDownloadLinks", {
  effect: Effect.gen(function* () {
    const app = yield* AppConfig
    const config = yield* TrackLibraryConfig
    // v2 since links carry their scope: a v1 link, which never said whom it was given to, no longer verifies.
    const signer = makeSigner(app.jwtSecret, "veza/track-downloads/v2")
    const base = Option.getOrElse(app.publicUrl, () => "").replace(/\/$/, "")

    const subject = (trackId: string, listener: boolean) => (listener ? `${trackId}:listener` : trackId)

    const sign = (trackId: string, options: { listener: boolean }) => {
      const { exp, sig } = signer.sign(subject(trackId, options.listener), config.downloadLinkTtlSeconds)
      return { url: `${base}/downloads/tracks/${trackId}?exp=${exp}&sig=${sig}${options.listener ? "&for=listener" : ""}`, expires_at: new Date(exp * 1000) }
    }

    const verify = (trackId: string, listener: boolean, exp: string | undefined, sig: string | undefined) =>
      signer.verify(subject(trackId, listener), exp ?? null, sig ?? null)
    return { sign, verify } as const
  }),
  dependencies: [TrackLibraryConfig.Default]
}) {}

const fail = (status: number, code: string, message: string) => HttpServerResponse.unsafeJson(errorBody(code, message), { status })

/**
 * GET `/downloads/tracks/:id?exp=&sig=`: the original file, streamed from
 * storage. A plain route rather than an API endpoint: the body is audio, not
 * JSON. The track must still exist when the link is used.
 */
export const TrackDownloadRoutes = HttpLayerRouter.use((router) =>
  Effect.gen(function* () {
    const links = yield* TrackDownloadLinks
    const repo = yield* TracksRepo
    const storage = yield* Storage
    yield* router.add(
      "GET",
      "/downloads/tracks/:id",
      Effect.gen(function* () {
        const { params } = yield* HttpRouter.RouteContext
        const search = yield* HttpServerRequest.ParsedSearchParams
        const id = params["id"] ?? ""
        const one = (v: string | ReadonlyArray<string> | undefined) => (typeof v === "string" ? v : undefined)
        const listener = one(search["for"]) === "listener"
        if (!isUuid(id) || !links.verify(id, listener, one(search["exp"]), one(search["sig"]))) {
          return fail(403, "INVALID_LINK", "the download link is invalid or has expired; ask the API for a new one")
        }
        const original = yield* repo.original(TrackId.make(id), listener ? "listener" : "owner")
        if (Option.isNone(original)) return fail(404, "NOT_FOUND", "track not found")
        const body = yield* storage.get(original.value.storage_key)
        if (Option.isNone(body)) return fail(404, "NOT_FOUND", "the original file is no longer stored")
        const stream = body.value.stream
        return HttpServerResponse.stream(NodeStream.fromReadable(() => stream, (e) => e), {
          contentType: contentTypeOf(original.value.original_filename),
          contentLength: body.value.size,
          headers: {
            "content-disposition": attachmentDisposition(original.value.original_filename),
            "cache-control": "private, no-store",
            etag: body.value.etag
          }
        })
      }).pipe(
        Effect.catchAll((e) =>
          Effect.as(Effect.logWarning("download failed", e), fail(503, "SERVICE_UNAVAILABLE", "the file cannot be read right now, retry shortly"))
        )
      )
    )
  })
)
