import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { Authentication } from "../auth/api.js"
import { BadRequest, Forbidden, NotFound, ServiceUnavailable, Unauthorized, Unprocessable } from "../platform/api-errors.js"
import { PageParams } from "../platform/cursor.js"
import { UserId } from "../users/schema.js"
import { FeedPage, NotificationId, NotificationPage, Relationship, UserListPage } from "./schema.js"

const UserPath = Schema.Struct({ id: UserId })
const NoContent = Schema.Void

export const NotificationsParams = Schema.Struct({ ...PageParams(100), unread: Schema.optional(Schema.Literal("true", "false")) })

const relation = <Name extends string, Method extends "POST" | "DELETE">(endpoint: HttpApiEndpoint.HttpApiEndpoint<Name, Method>) =>
  endpoint
    .setPath(UserPath)
    .addSuccess(NoContent, { status: 204 })
    .addError(Forbidden.envelope)
    .addError(NotFound.envelope)
    .addError(Unprocessable.envelope)
    .addError(Unauthorized.envelope)
    .middleware(Authentication)

/** Follows, blocks, the feed of followed creators and the notification inbox. */
export class SocialApi extends HttpApiGroup.make("social")
  .add(
    HttpApiEndpoint.get("relationship", "/users/:id/relationship")
      .setPath(UserPath)
      .addSuccess(Relationship)
      .addError(NotFound.envelope)
      .addError(Unauthorized.envelope)
      .middleware(Authentication)
  )
  .add(relation(HttpApiEndpoint.post("follow", "/users/:id/follow")))
  .add(relation(HttpApiEndpoint.del("unfollow", "/users/:id/follow")))
  .add(relation(HttpApiEndpoint.post("block", "/users/:id/block")))
  .add(relation(HttpApiEndpoint.del("unblock", "/users/:id/block")))
  .add(
    HttpApiEndpoint.get("followers", "/users/:id/followers")
      .setPath(UserPath)
      .setUrlParams(Schema.Struct(PageParams(100)))
      .addSuccess(UserListPage)
      .addError(BadRequest.envelope)
      .addError(NotFound.envelope)
  )
  .add(
    HttpApiEndpoint.get("following", "/users/:id/following")
      .setPath(UserPath)
      .setUrlParams(Schema.Struct(PageParams(100)))
      .addSuccess(UserListPage)
      .addError(BadRequest.envelope)
      .addError(NotFound.envelope)
  )
  .add(
    HttpApiEndpoint.get("blocked", "/blocks")
      .setUrlParams(Schema.Struct(PageParams(100)))
      .addSuccess(UserListPage)
      .addError(BadRequest.envelope)
      .addError(Unauthorized.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.get("feed", "/feed")
      .setUrlParams(Schema.Struct(PageParams(100)))
      .addSuccess(FeedPage)
      .addError(BadRequest.envelope)
      .addError(Unauthorized.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.get("notifications", "/notifications")
      .setUrlParams(NotificationsParams)
      .addSuccess(NotificationPage)
      .addError(BadRequest.envelope)
      .addError(Unauthorized.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.post("readNotification", "/notifications/:id/read")
      .setPath(Schema.Struct({ id: NotificationId }))
      .addSuccess(NoContent, { status: 204 })
      .addError(NotFound.envelope)
      .addError(Unauthorized.envelope)
      .middleware(Authentication)
  )
  .add(
    HttpApiEndpoint.post("readAllNotifications", "/notifications/read-all")
      .addSuccess(NoContent, { status: 204 })
      .addError(Unauthorized.envelope)
      .middleware(Authentication)
  )
  .addError(ServiceUnavailable.envelope) {}
