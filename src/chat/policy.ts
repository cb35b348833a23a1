import type { Actor } from "../auth/current-user.js"
import type { Membership } from "./repo.js"
import type { MemberRole, RoomType } from "./schema.js"

const RANK: Record<MemberRole, number> = { member: 0, moderator: 1, owner: 2 }

export const isMember = (m: Membership | undefined): m is Membership => m !== undefined && !m.banned

/** Public rooms are readable by anyone signed in; private rooms and DMs by their members (and admins). */
export const canRead = (actor: Actor, type: RoomType, m: Membership | undefined) => type === "public" || isMember(m) || actor.role === "admin"

/**
 * Moderation (kick, mute, ban, deleting others' messages): owners and moderators, over members ranked below them.
 * Nobody moderates the owner, admins included: a room keeps its one owner.
 */
export const canModerate = (actor: Actor, m: Membership | undefined, target?: MemberRole) =>
  target !== "owner" && (actor.role === "admin" || (isMember(m) && RANK[m.role] >= RANK.moderator && (target === undefined || RANK[m.role] > RANK[target])))

/** Private rooms take members by invitation from moderators; public rooms from any member. */
export const canInvite = (actor: Actor, type: RoomType, m: Membership | undefined) =>
  type !== "dm" && (actor.role === "admin" || (isMember(m) && (type === "public" || RANK[m.role] >= RANK.moderator)))

/** Roles are the owner's to give. */
export const canChangeRoles = (actor: Actor, m: Membership | undefined) => actor.role === "admin" || (isMember(m) && m.role === "owner")
