import type { UserId } from "../users/schema.js"
import type { Message, RoomId } from "./schema.js"

/** Presence as the protocol names it; a user is its most present connection's status. */
export type PresenceStatus = "online" | "away" | "offline"

/**
 * What chat nodes tell each other through the bus. Everything is plain JSON
 * (Redis carries it as text; dates travel as ISO strings).
 */
export type ChatEvent =
  /** A stored message, ordered per room by seq. */
  | { readonly kind: "message"; readonly room: RoomId; readonly message: Message }
  /** Any other frame for a room's subscribers; `durable` frames are never dropped for a slow reader. */
  | { readonly kind: "room"; readonly room: RoomId; readonly frame: Record<string, unknown>; readonly durable: boolean; readonly skipUser?: UserId }
  /** A user's membership changed: `removed` unsubscribes their connections, `added` joins them (DMs). */
  | { readonly kind: "membership"; readonly room: RoomId; readonly user: UserId; readonly change: "added" | "removed"; readonly reason: string }
  /** One node's view of one user's presence. */
  | { readonly kind: "presence"; readonly node: string; readonly user: UserId; readonly status: PresenceStatus }
  /** A node's whole presence, sent when it starts listening, on request and as a liveness beat. */
  | { readonly kind: "presence_snapshot"; readonly node: string; readonly users: ReadonlyArray<readonly [UserId, PresenceStatus]> }
  | { readonly kind: "presence_sync"; readonly node: string }
  | { readonly kind: "node_down"; readonly node: string }
  /** A stored notification for one user, already encoded for the wire; sent to all their connections as a `notification` frame. */
  /** The user may no longer chat (banned): every connection of theirs is closed. */
  | { readonly kind: "disconnect"; readonly user: UserId; readonly reason: string }
  | { readonly kind: "notification"; readonly user: UserId; readonly notification: Record<string, unknown> }
