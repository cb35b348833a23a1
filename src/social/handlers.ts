import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { VezaApi } from "../api.js"
import { withActor } from "../auth/current-user.js"
import type { UserId } from "../users/schema.js"
import type { NotificationsParams } from "./api.js"
import { SocialRpcs } from "./rpc.js"
import type { NotificationId } from "./schema.js"
import { Social } from "./service.js"

const DEFAULT_LIMIT = 50

type PageParams = { readonly cursor?: string | undefined; readonly limit?: number | undefined }

/** What HTTP and RPC both answer, given the parsed parameters. */
const SocialOperations = Effect.map(Social, (social) => {
  const pageRequest = (params: PageParams) => ({ cursor: params.cursor, limit: params.limit ?? DEFAULT_LIMIT })
  return {
    relationship: (id: UserId) => withActor((actor) => social.relationship(actor, id)),
    follow: (id: UserId) => withActor((actor) => social.follow(actor, id)),
    unfollow: (id: UserId) => withActor((actor) => social.unfollow(actor, id)),
    block: (id: UserId) => withActor((actor) => social.block(actor, id)),
    unblock: (id: UserId) => withActor((actor) => social.unblock(actor, id)),
    followers: (id: UserId, page: PageParams) => social.followers(id, pageRequest(page)),
    following: (id: UserId, page: PageParams) => social.following(id, pageRequest(page)),
    blocked: (page: PageParams) => withActor((actor) => social.blocked(actor, pageRequest(page))),
    feed: (page: PageParams) => withActor((actor) => social.feed(actor, pageRequest(page))),
    notifications: (params: typeof NotificationsParams.Type) =>
      withActor((actor) => social.inbox(actor, { ...pageRequest(params), unreadOnly: params.unread === "true" })),
    readNotification: (id: NotificationId) => withActor((actor) => social.markRead(actor, id)),
    readAllNotifications: () => withActor((actor) => social.markAllRead(actor))
  }
})

export const SocialHandlers = HttpApiBuilder.group(VezaApi, "social", (handlers) =>
  Effect.map(SocialOperations, (ops) =>
    handlers
      .handle("relationship", ({ path }) => ops.relationship(path.id))
      .handle("follow", ({ path }) => ops.follow(path.id))
      .handle("unfollow", ({ path }) => ops.unfollow(path.id))
      .handle("block", ({ path }) => ops.block(path.id))
      .handle("unblock", ({ path }) => ops.unblock(path.id))
      .handle("followers", ({ path, urlParams }) => ops.followers(path.id, urlParams))
      .handle("following", ({ path, urlParams }) => ops.following(path.id, urlParams))
      .handle("blocked", ({ urlParams }) => ops.blocked(urlParams))
      .handle("feed", ({ urlParams }) => ops.feed(urlParams))
      .handle("notifications", ({ urlParams }) => ops.notifications(urlParams))
      .handle("readNotification", ({ path }) => ops.readNotification(path.id))
      .handle("readAllNotifications", () => ops.readAllNotifications())
  )
)

export const SocialRpcHandlers = SocialRpcs.toLayer(
  Effect.gen(function* () {
    const ops = yield* SocialOperations
    return {
      "social.relationship": ({ id }) => ops.relationship(id),
      "social.follow": ({ id }) => ops.follow(id),
      "social.unfollow": ({ id }) => ops.unfollow(id),
      "social.block": ({ id }) => ops.block(id),
      "social.unblock": ({ id }) => ops.unblock(id),
      "social.followers": ({ id, ...page }) => ops.followers(id, page),
      "social.following": ({ id, ...page }) => ops.following(id, page),
      "social.blocked": (page) => ops.blocked(page),
      "social.feed": (page) => ops.feed(page),
      "social.notifications": (params) => ops.notifications(params),
      "social.readNotification": ({ id }) => ops.readNotification(id),
      "social.readAllNotifications": () => ops.readAllNotifications()
    }
  })
)
