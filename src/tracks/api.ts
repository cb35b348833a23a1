import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, Multipart } from "@effect/platform"
import { Schema } from "effect"
import { Authentication } from "../auth/api.js"
import {
  BadRequest,
  Conflict,
  Forbidden,
  NotFound,
  PayloadTooLarge,
  ServiceUnavailable,
  Unauthorized,
  Unprocessable,
  UnsupportedMediaType
} from "../platform/api-errors.js"
import { StoredText } from "../platform/text.js"
import { UserId } from "../users/schema.js"
import {
  Comment,
  CommentEdit,
  CommentId,
  CommentPage,
  DownloadLink,
  HistoryPage,
  LikeState,
  MAX_TAGS,
  NewComment,
  NewPlay,
  NewShareLink,
  PlayResult,
  SharedTrack,
  ShareLink,
  ShareToken,
  StreamUrl,
  Tag,
  Track,
  TrackPage,
  TrackStats,
  TrackId,
  TrackTitle,
  UpdateTrack,
  Visibility
} from "./schema.js"

const TrackIdPath = Schema.Struct({ id: TrackId })
const CommentPath = Schema.Struct({ id: TrackId, comment_id: CommentId })

const IntFromString = (name: string, min: number, max: number) =>
  Schema.NumberFromString.pipe(
    Schema.int({ message: () => `${name} must be an integer` }),
    Schema.between(min, max, { message: () => `${name} must be between ${min} and ${max}` })
  )

/** An ISO-8601 time that PostgreSQL can store. */
const Instant = (name: string) =>
  Schema.Date.pipe(
    Schema.filter((d) => d.getUTCFullYear() >= 1 && d.getUTCFullYear() <= 9999, { message: () => `${name} must be an ISO-8601 time` })
  ).annotations({ message: () => `${name} must be an ISO-8601 time` })

const Page = {
  cursor: Schema.optional(Schema.String.pipe(Schema.maxLength(300))),
  limit: Schema.optional(IntFromString("limit", 1, 100))
}

export const TrackListParams = Schema.Struct({
  user_id: Schema.optional(UserId),
  genre: Schema.optional(StoredText.pipe(Schema.maxLength(100))),
  /** Any of these tags, comma-separated. */
  tags: Schema.optional(
    Schema.compose(Schema.split(","), Schema.Array(Tag)).pipe(Schema.maxItems(MAX_TAGS, { message: () => `at most ${MAX_TAGS} tags` }))
  ),
  visibility: Schema.optional(Visibility),
  created_after: Schema.optional(Instant("created_after")),
  created_before: Schema.optional(Instant("created_before")),
  /** Title prefix, case-insensitive (full-text search is /search). */
  q: Schema.optional(StoredText.pipe(Schema.maxLength(255))),
  ...Page
})

export const PageParams = Schema.Struct(Page)

/** A body whose fields are all optional may be left out entirely (it then arrives as null). */
const OptionalBody = <A, I>(schema: Schema.Schema<A, I>) => Schema.NullOr(schema)

export class TracksApi extends HttpApiGroup.make("tracks")
  .add(
    HttpApiEndpoint.post("upload", "/tracks")
      .setPayload(
        HttpApiSchema.MultipartStream(
          Schema.Struct({
            file: Multipart.SingleFileSchema,
            title: Schema.optional(TrackTitle),
            visibility: Schema.optional(Visibility)
          })
        )
      )
      .addSuccess(Track, { status: 201 })
      .addError(BadRequest.envelope)
      .addError(Forbidden.envelope)
      .addError(PayloadTooLarge.envelope)
      .addError(UnsupportedMediaType.envelope)
      .addError(Unprocessable.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.get("list", "/tracks")
      .setUrlParams(TrackListParams)
      .addSuccess(TrackPage)
      .addError(BadRequest.envelope)
      .addError(Unauthorized.envelope)
  )
  .add(
    HttpApiEndpoint.get("shared", "/tracks/shared/:token")
      .setPath(Schema.Struct({ token: ShareToken }))
      .addSuccess(SharedTrack)
      .addError(Unauthorized.envelope)
      .addError(NotFound.envelope)
  )
  .add(
    HttpApiEndpoint.get("byId", "/tracks/:id")
      .setPath(TrackIdPath)
      .addSuccess(Track)
      .addError(Unauthorized.envelope)
      .addError(NotFound.envelope)
  )
  .add(
    HttpApiEndpoint.get("streamUrl", "/tracks/:id/stream-url")
      .setPath(TrackIdPath)
      .addSuccess(StreamUrl)
      .addError(NotFound.envelope)
      .addError(Conflict.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.post("retranscode", "/tracks/:id/transcode")
      .setPath(TrackIdPath)
      .addSuccess(Track, { status: 202 })
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .addError(Conflict.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.put("replace", "/tracks/:id")
      .setPath(TrackIdPath)
      .setPayload(UpdateTrack)
      .addSuccess(Track)
      .addError(BadRequest.envelope)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.patch("update", "/tracks/:id")
      .setPath(TrackIdPath)
      .setPayload(UpdateTrack)
      .addSuccess(Track)
      .addError(BadRequest.envelope)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.del("delete", "/tracks/:id")
      .setPath(TrackIdPath)
      .addSuccess(Schema.Void, { status: 204 })
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.post("like", "/tracks/:id/like")
      .setPath(TrackIdPath)
      .addSuccess(LikeState)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.del("unlike", "/tracks/:id/like")
      .setPath(TrackIdPath)
      .addSuccess(LikeState)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.post("addComment", "/tracks/:id/comments")
      .setPath(TrackIdPath)
      .setPayload(NewComment)
      .addSuccess(Comment, { status: 201 })
      .addError(BadRequest.envelope)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .addError(Unprocessable.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.get("comments", "/tracks/:id/comments")
      .setPath(TrackIdPath)
      .setUrlParams(PageParams)
      .addSuccess(CommentPage)
      .addError(BadRequest.envelope)
      .addError(Unauthorized.envelope)
      .addError(NotFound.envelope)
  )
  .add(
    HttpApiEndpoint.patch("editComment", "/tracks/:id/comments/:comment_id")
      .setPath(CommentPath)
      .setPayload(CommentEdit)
      .addSuccess(Comment)
      .addError(BadRequest.envelope)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.del("deleteComment", "/tracks/:id/comments/:comment_id")
      .setPath(CommentPath)
      .addSuccess(Schema.Void, { status: 204 })
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.post("play", "/tracks/:id/plays")
      .setPath(TrackIdPath)
      .setPayload(OptionalBody(NewPlay))
      .addSuccess(PlayResult)
      .addError(BadRequest.envelope)
      .addError(Unauthorized.envelope)
      .addError(NotFound.envelope)
  )
  .add(
    HttpApiEndpoint.get("stats", "/tracks/:id/stats")
      .setPath(TrackIdPath)
      .addSuccess(TrackStats)
      .addError(Unauthorized.envelope)
      .addError(NotFound.envelope)
  )
  .add(
    HttpApiEndpoint.get("history", "/me/history")
      .setUrlParams(PageParams)
      .addSuccess(HistoryPage)
      .addError(BadRequest.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.post("share", "/tracks/:id/share")
      .setPath(TrackIdPath)
      .setPayload(OptionalBody(NewShareLink))
      .addSuccess(ShareLink, { status: 201 })
      .addError(BadRequest.envelope)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.del("revokeShare", "/tracks/:id/share/:token")
      .setPath(Schema.Struct({ id: TrackId, token: ShareToken }))
      .addSuccess(Schema.Void, { status: 204 })
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.get("download", "/tracks/:id/download")
      .setPath(TrackIdPath)
      .addSuccess(DownloadLink)
      .addError(Unauthorized.envelope)
      .addError(Forbidden.envelope)
      .addError(NotFound.envelope)
  )
  .addError(ServiceUnavailable.envelope) {}
