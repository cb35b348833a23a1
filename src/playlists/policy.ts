import type { Actor } from "../auth/current-user.js"
import { isAdmin } from "../auth/policy.js"
import type { Visibility } from "../tracks/schema.js"
import type { PlaylistRole } from "./schema.js"

/** What the rules need of a playlist, as seen by one caller. */
export interface PlaylistAccess {
  readonly visibility: Visibility
  readonly collaborative: boolean
  readonly my_role: PlaylistRole | null
}

const admin = (actor: Actor | undefined) => actor !== undefined && isAdmin(actor)

/**
 * Private playlists exist only for their owner, their invited collaborators
 * and admins: to anyone else they are 404, like a missing one.
 */
export const canSee = (actor: Actor | undefined, p: PlaylistAccess) => p.visibility !== "private" || p.my_role !== null || admin(actor)

/** Title, description, visibility, the collaborative flag, deleting and inviting: the owner's (and admins'). */
export const canManage = (actor: Actor, p: PlaylistAccess) => p.my_role === "owner" || admin(actor)

/** Adding, removing and moving tracks: the owner, admins, and editors while the playlist is collaborative. */
export const canEditTracks = (actor: Actor, p: PlaylistAccess) => canManage(actor, p) || (p.collaborative && p.my_role === "editor")
