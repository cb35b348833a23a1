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
 * for anyone who has the id.
 */
export const canSee = (actor: Actor | undefined, track: { readonly creator_id: string; readonly visibility: Visibility }) =>
  track.visibility !== "private" || ownsOrAdmin(actor, track.creator_id)
