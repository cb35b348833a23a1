import { Rpc, RpcGroup } from "@effect/rpc"
import { RpcAuthentication } from "../auth/rpc.js"
import { BadRequest, Forbidden, NotFound, rpcErrors, Unprocessable } from "../platform/api-errors.js"
import { PageParams } from "../platform/cursor.js"
import { UserId } from "../users/schema.js"
import { NotificationsParams } from "./api.js"
import { FeedPage, NotificationId, NotificationPage, Relationship, UserListPage } from "./schema.js"

const relation = <const Tag extends string>(tag: Tag) =>
  Rpc.make(tag, { payload: { id: UserId }, error: rpcErrors(Forbidden, NotFound, Unprocessable) }).middleware(RpcAuthentication)

/** The `social` HttpApi group over RPC: follows, blocks, the feed and the notification inbox. */
export class SocialRpcs extends RpcGroup.make(
  Rpc.make("social.relationship", { payload: { id: UserId }, success: Relationship, error: rpcErrors(NotFound) }).middleware(RpcAuthentication),
  relation("social.follow"),
  relation("social.unfollow"),
  relation("social.block"),
  relation("social.unblock"),
  Rpc.make("social.followers", { payload: { id: UserId, ...PageParams(100) }, success: UserListPage, error: rpcErrors(BadRequest, NotFound) }),
  Rpc.make("social.following", { payload: { id: UserId, ...PageParams(100) }, success: UserListPage, error: rpcErrors(BadRequest, NotFound) }),
  Rpc.make("social.blocked", { payload: PageParams(100), success: UserListPage, error: rpcErrors(BadRequest) }).middleware(RpcAuthentication),
  Rpc.make("social.feed", { payload: PageParams(100), success: FeedPage, error: rpcErrors(BadRequest) }).middleware(RpcAuthentication),
  Rpc.make("social.notifications", { payload: NotificationsParams, success: NotificationPage, error: rpcErrors(BadRequest) }).middleware(
    RpcAuthentication
  ),
  Rpc.make("social.readNotification", { payload: { id: NotificationId }, error: rpcErrors(NotFound) }).middleware(RpcAuthentication),
  Rpc.make("social.readAllNotifications", { error: rpcErrors() }).middleware(RpcAuthentication)
) {}
