import { Schema } from "effect"
import { Page } from "../platform/cursor.js"
import { TrackSummary } from "../playlists/schema.js"
import { UserId } from "../users/schema.js"

export const NotificationId = Schema.UUID.pipe(Schema.brand("NotificationId"))
export type NotificationId = typeof NotificationId.Type

/** `follow` a new follower, `like`/`comment` on your track, `playlist_invite` to collaborate, `order_paid` a sale or purchase settled. */
export const NotificationType = Schema.Literal("follow", "like", "comment", "playlist_invite", "order_paid")
export type NotificationType = typeof NotificationType.Type

export const Notification = Schema.Struct({
  id: NotificationId,
  type: NotificationType,
  /** Who caused it; null for what the platform itself reports. */
  actor_id: Schema.NullOr(UserId),
  actor_username: Schema.NullOr(Schema.String),
  /** What it is about, by type: e.g. `{playlist_id, title, role}` for an invite, `{track_id}` for a like. */
  payload: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  read: Schema.Boolean,
  created_at: Schema.Date
}).annotations({ identifier: "Notification" })
export type Notification = typeof Notification.Type

export const NotificationPage = Schema.Struct({
  items: Schema.Array(Notification),
  next_cursor: Schema.NullOr(Schema.String),
  /** All the caller's unread notifications, not only this page's. */
  unread_count: Schema.Int
}).annotations({ identifier: "NotificationPage" })

/** A user in a followers, following or blocked list. */
export const UserListEntry = Schema.Struct({
  id: UserId,
  username: Schema.String,
  display_name: Schema.NullOr(Schema.String),
  avatar_url: Schema.NullOr(Schema.String),
  /** When they followed (or were followed, or blocked). */
  since: Schema.Date
}).annotations({ identifier: "UserListEntry" })
export type UserListEntry = typeof UserListEntry.Type

export const UserListPage = Page(UserListEntry).annotations({ identifier: "UserListPage" })

export const FeedItem = Schema.Struct({
  ...TrackSummary.fields,
  creator_username: Schema.String,
  published_at: Schema.NullOr(Schema.Date)
}).annotations({ identifier: "FeedItem" })
export type FeedItem = typeof FeedItem.Type

export const FeedPage = Page(FeedItem).annotations({ identifier: "FeedPage" })

/** How the caller stands with another account; whether that account blocks the caller is not told. */
export const Relationship = Schema.Struct({
  user_id: UserId,
  following: Schema.Boolean,
  followed_by: Schema.Boolean,
  blocking: Schema.Boolean
}).annotations({ identifier: "Relationship" })
