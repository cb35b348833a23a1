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
import { StreamUrl, Track, TrackId, TrackTitle, Visibility } from "./schema.js"

const TrackIdPath = Schema.Struct({ id: TrackId })

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
  .addError(ServiceUnavailable.envelope) {}
