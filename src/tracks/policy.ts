import { Effect } from "effect"
import type { Actor } from "../auth/current-user.js"
import { isAdmin, policy } from "../auth/policy.js"
import type { UserRole } from "../users/schema.js"
import type { Visibility } from "./schema.js"

const CREATOR_ROLES: ReadonlySet<UserRole> = new Set(["creator", "artist", "producer", "label", "admin"])

/** Uploading is for creator-side accounts (SPEC §4 account types), and admins. */
export const canUpload = policy("Track", "upload", (actor) => Effect.succeed(CREATOR_ROLES.has(actor.role)))

export const ownsOrAdmin = (actor: Actor | undefined, creatorId: string) =>
  actor !== undefined && (actor.id === creatorId || isAdmin(actor))

/**
 * Who sees a track at all. Private tracks exist only for their owner and
 * admins (everyone else gets 404, so existence does not leak); unlisted ones
 * for anyone who has the id. A track hidden by a moderator is private until unhidden.
 */
export const canSee = (actor: Actor | undefined, track: { readonly creator_id: string; readonly visibility: Visibility; readonly hidden_at: Date | null }) =>
  (track.visibility !== "private" && track.hidden_at === null) || ownsOrAdmin(actor, track.creator_id)

/** The original file: its owner and admins always; anyone who sees the track when the owner allows downloads. */
export const canDownload = (actor: Actor | undefined, track: { readonly creator_id: string; readonly is_downloadable: boolean }) =>
  ownsOrAdmin(actor, track.creator_id) || track.is_downloadable

/** A comment is edited by its author only; removed by its author, the track's owner, or an admin. */
export const canEditComment = (actor: Actor, comment: { readonly user_id: string }) => actor.id === comment.user_id

export const canDeleteComment = (actor: Actor, comment: { readonly user_id: string }, track: { readonly creator_id: string }) =>
  actor.id === comment.user_id || ownsOrAdmin(actor, track.creator_id)
