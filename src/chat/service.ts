import type { SqlError } from "@effect/sql/SqlError"
import { Blocks } from "../social/blocks.js"
import { Effect, Either, Option } from "effect"
import type { Actor } from "../auth/current-user.js"
import { BadRequest, Conflict, Forbidden, NotFound } from "../platform/api-errors.js"
import { sqlErrors, uniqueViolation } from "../platform/sql-errors.js"
import type { UserId } from "../users/schema.js"
import { ChatBus } from "./bus.js"
import { ChatConfig } from "./config.js"
import { canChangeRoles, canInvite, canModerate, canRead, isMember } from "./policy.js"
import { ChatRepo, type Membership, type NewMessage } from "./repo.js"
import type { MemberRole, Message, MessageId, Room, RoomId } from "./schema.js"
import { isUuid } from "../platform/text.js"

const roomNotFound = () => NotFound.of("room not found", "ROOM_NOT_FOUND")
const messageNotFound = () => NotFound.of("message not found", "MESSAGE_NOT_FOUND")
const notMember = () => Forbidden.of("you are not a member of this room", "NOT_A_MEMBER")

/** Why one message of a run was not stored. */
type ChatSendError = BadRequest | Forbidden | NotFound | Conflict

export interface RoomPage {
  readonly items: ReadonlyArray<Room>
  readonly next_cursor: string | null
}


const encodeCursor = (room: Room) => Buffer.from(JSON.stringify([room.created_at.toISOString(), room.id])).toString("base64url")
const decodeCursor = (cursor: string) => {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as [string, string]
    const createdAt = new Date(at)
    // Anything PostgreSQL would refuse (a malformed uuid, a year it cannot store) is a bad cursor, not a 500.
    const year = createdAt.getUTCFullYear()
    return typeof id === "string" && isUuid(id) && !Number.isNaN(createdAt.getTime()) && year >= 1 && year <= 9999
      ? Option.some({ createdAt, id })
      : Option.none()
  } catch {
    return Option.none()
  }
}

/**
 * Chat's rules, shared by the REST API and the WebSocket gateway: who may
 * read, post, moderate; every write is stored first and then announced on
 * the bus, so nothing a client was told about can be lost.
 */
export class Chat extends Effect.Service<Chat>()("veza/Chat", {
  effect: Effect.gen(function* () {
    const repo = yield* ChatRepo
    const bus = yield* ChatBus
    const config = yield* ChatConfig
    const blocks = yield* Blocks

    const membershipOf = (room: RoomId, user: UserId) => Effect.map(repo.membership(room, user), Option.getOrUndefined)

    /** The room if the actor may read it; 404 otherwise, so private rooms do not leak. */
    const readable = (actor: Actor, id: RoomId) =>
      Effect.gen(function* () {
        const found = yield* repo.roomWithMembership(id, actor.id)
        if (Option.isNone(found) || !canRead(actor, found.value.room.type, found.value.membership)) return yield* roomNotFound()
        return found.value
      })

    const createRoom = (actor: Actor, input: { name: string; type: "public" | "private"; description?: string | undefined }) =>
      Effect.gen(function* () {
        const id = yield* repo.createRoom(actor.id, { type: input.type, name: input.name, description: input.description ?? null })
        return (yield* readable(actor, id)).room
      }).pipe(sqlErrors)

    const listRooms = (actor: Actor, options: { mine: boolean; cursor: string | undefined; limit: number }) =>
      Effect.gen(function* () {
        const after = options.cursor === undefined ? Option.none() : decodeCursor(options.cursor)
        if (options.cursor !== undefined && Option.isNone(after)) return yield* BadRequest.of("cursor is not one this API returned", "INVALID_CURSOR")
        const rows = yield* repo.listRooms(actor.id, { mine: options.mine, after, limit: options.limit })
        const items = rows.slice(0, options.limit)
        return { items, next_cursor: rows.length > options.limit ? encodeCursor(items[items.length - 1]!) : null } satisfies RoomPage
      }).pipe(sqlErrors)

    const getRoom = (actor: Actor, id: RoomId) => Effect.map(readable(actor, id), (r) => r.room).pipe(sqlErrors)

    const members = (actor: Actor, id: RoomId) => Effect.zipRight(readable(actor, id), repo.members(id)).pipe(sqlErrors)

    const announceMembership = (room: RoomId, user: UserId, change: "added" | "removed", reason: string) =>
      bus.publish({ kind: "membership", room, user, change, reason })

    /** Joins a public room (idempotent). Private rooms need an invitation; banned users stay out. */
    const enter = (actor: Actor, id: RoomId) =>
      Effect.gen(function* () {
        const found = yield* repo.roomWithMembership(id, actor.id)
        if (Option.isNone(found)) return yield* roomNotFound()
        const { room, membership } = found.value
        // A banned member knows the room: telling them so beats pretending it is gone.
        if (membership?.banned) return yield* Forbidden.of("you are banned from this room", "BANNED")
        // Admins look into private rooms without joining them; a public room they join like anyone, so they can post there.
        if (isMember(membership) || (actor.role === "admin" && room.type === "private")) return room
        if (room.type !== "public") return yield* roomNotFound()
        yield* repo.addMember(id, actor.id, "member")
        return (yield* readable(actor, id)).room
      })

    const join = (actor: Actor, id: RoomId) => enter(actor, id).pipe(sqlErrors)

    /**
     * Joins (public rooms) and reads what a client rejoining after `sinceSeq`
     * missed, or `recovered: false` when more than the recovery window was
     * missed (it should reload history). One read of the room serves both.
     */
    const open = (actor: Actor, id: RoomId, sinceSeq: number | undefined) =>
      Effect.gen(function* () {
        const room = yield* enter(actor, id)
        const lastSeq = room.last_seq
        if (sinceSeq === undefined || sinceSeq >= lastSeq) return { room, lastSeq, recovered: true, messages: [] as ReadonlyArray<Message> }
        if (lastSeq - sinceSeq > config.recoveryWindow) return { room, lastSeq, recovered: false, messages: [] }
        return { room, lastSeq, recovered: true, messages: yield* repo.between(id, sinceSeq, lastSeq) }
      }).pipe(sqlErrors)

    const invite = (actor: Actor, id: RoomId, user: UserId) =>
      Effect.gen(function* () {
        const { room, membership } = yield* readable(actor, id)
        if (!canInvite(actor, room.type, membership)) return yield* Forbidden.of("only moderators can add members to this room")
        if (!(yield* repo.userExists(user))) return yield* NotFound.of("user not found", "USER_NOT_FOUND")
        // A block keeps the two apart in rooms as in DMs: neither adds the other anywhere.
        if (yield* blocks.isBlocked(actor.id, user)) return yield* Forbidden.of("one of you has blocked the other", "BLOCKED")
        const target = yield* membershipOf(id, user)
        if (target?.banned) return yield* Conflict.of("that user is banned from this room; unban them first", "BANNED")
        if (!(yield* repo.addMember(id, user, "member"))) return yield* Conflict.of("that user is already a member", "ALREADY_MEMBER")
        yield* announceMembership(id, user, "added", "invited")
      }).pipe(sqlErrors)

    const leave = (actor: Actor, id: RoomId) =>
      Effect.gen(function* () {
        const { room, membership } = yield* readable(actor, id)
        if (!isMember(membership)) return yield* notMember()
        if (room.type === "dm") return yield* Conflict.of("direct-message rooms cannot be left", "DM_ROOM")
        if (membership.role === "owner") return yield* Conflict.of("the owner cannot leave; give ownership to another member first (PATCH their role to owner)", "OWNER_CANNOT_LEAVE")
        yield* repo.removeMember(id, actor.id)
        yield* announceMembership(id, actor.id, "removed", "left")
      }).pipe(sqlErrors)

    /** The target's membership, when the actor may moderate it. */
    const moderatable = (actor: Actor, id: RoomId, user: UserId) =>
      Effect.gen(function* () {
        const { room, membership } = yield* readable(actor, id)
        if (room.type === "dm") return yield* Forbidden.of("direct-message rooms have no moderators")
        const target = yield* membershipOf(id, user)
        if (target === undefined) return yield* NotFound.of("that user is not a member of this room", "MEMBER_NOT_FOUND")
        if (!canModerate(actor, membership, target.role)) return yield* Forbidden.of("you cannot moderate that member")
        return { membership, target }
      })

    const kick = (actor: Actor, id: RoomId, user: UserId) =>
      Effect.gen(function* () {
        const { target } = yield* moderatable(actor, id, user)
        if (target.banned) return yield* NotFound.of("that user is not a member of this room", "MEMBER_NOT_FOUND")
        yield* repo.removeMember(id, user)
        yield* announceMembership(id, user, "removed", "kicked")
      }).pipe(sqlErrors)

    const updateMember = (actor: Actor, id: RoomId, user: UserId, change: { role?: MemberRole | undefined; muted?: boolean | undefined; banned?: boolean | undefined }) =>
      Effect.gen(function* () {
        const { membership, target } = yield* moderatable(actor, id, user)
        if (change.role !== undefined && !canChangeRoles(actor, membership)) return yield* Forbidden.of("only the owner can change roles")
        if (change.role === "owner") {
          if (change.banned === true || change.muted === true) return yield* BadRequest.of("the new owner cannot be muted or banned")
          if (target.banned) return yield* Conflict.of("a banned user cannot own the room; unban them first", "BANNED")
          yield* repo.transferOwnership(id, user)
        }
        yield* repo.updateMember(id, user, { ...change, role: change.role === "owner" ? undefined : change.role })
        if (change.banned === true && !target.banned) yield* announceMembership(id, user, "removed", "banned")
        // Not the member list: that leaves out the banned, and a ban would read as "not found".
        return Option.getOrUndefined(yield* repo.member(id, user))
      }).pipe(sqlErrors)

    /** Messages before `beforeSeq`, oldest first. */
    const history = (actor: Actor, id: RoomId, beforeSeq: number | undefined, limit: number) =>
      Effect.gen(function* () {
        yield* readable(actor, id)
        const page = yield* repo.history(id, beforeSeq, limit)
        return { items: page.messages, has_more: page.hasMore }
      }).pipe(sqlErrors)

    /**
     * Stores then announces. A retry with the same client_id returns the
     * stored message and announces nothing again.
     */
    // A room's type and a DM's members never change: read once per room and process.
    const dmPairs = new Map<RoomId, Option.Option<readonly [UserId, UserId]>>()
    const dmPairOf = (room: RoomId): Effect.Effect<Option.Option<readonly [UserId, UserId]>, SqlError> => {
      const known = dmPairs.get(room)
      if (known !== undefined) return Effect.succeed(known)
      return Effect.tap(repo.dmPair(room), (pair) =>
        Effect.sync(() => {
          if (dmPairs.size >= 100_000) dmPairs.clear()
          dmPairs.set(room, pair)
        })
      )
    }
    /** Fails BLOCKED when the room is a DM and one of its two members blocked the other. */
    const checkNotBlocked = (room: RoomId, user: UserId) =>
      Effect.flatMap(dmPairOf(room), (pair) => {
        if (Option.isNone(pair)) return Effect.void
        const [low, high] = pair.value
        return Effect.flatMap(blocks.isBlocked(user, low === user ? high : low), (blocked) =>
          blocked ? Effect.fail(Forbidden.of("you cannot message this user", "BLOCKED")) : Effect.void
        )
      })

    /** Why a refused message was not stored (read after the fact, once per run: every refusal but a bad reply is the sender's). */
    const refusalOf = (actor: Actor, room: RoomId, refused: ReadonlyArray<NewMessage>) =>
      Effect.gen(function* () {
        const why = yield* repo.sendRefusal(room, actor.id, refused[0]!.replyTo)
        if (why === "muted") return () => Forbidden.of("you are muted in this room", "MUTED")
        if (why === "bad_reply") return () => BadRequest.of("reply_to is not a message of this room", "INVALID_REPLY")
        const found = yield* repo.roomById(room, actor.id)
        return Option.isNone(found) || found.value.type !== "public" ? roomNotFound : notMember
      })

    /**
     * Another connection stored one of these client_ids meanwhile: run again, and it is
     * found as stored. A catch rather than `Effect.retry`, which builds a schedule for every send.
     */
    const storeRetryingRaces = (room: RoomId, sender: UserId, inputs: ReadonlyArray<NewMessage>, retries = 2): ReturnType<typeof repo.insertMessages> =>
      Effect.catchIf(
        repo.insertMessages(room, sender, inputs),
        (e) => retries > 0 && Option.isSome(uniqueViolation(e)),
        () => storeRetryingRaces(room, sender, inputs, retries - 1)
      )

    /**
     * Stores a run of messages one connection sent to one room, in order, in
     * one statement (`insertMessages`), then publishes them: a client that
     * sends faster than a round trip gets one commit for the run, and every
     * recipient gets the run in one write. One result per input: the message
     * (`created` false when its client_id was stored before), or why not.
     * Every send of every connection passes here, so it is written as a short
     * chain of effects rather than a generator (a generator and its closures per send).
     */
    const sendMany = (actor: Actor, room: RoomId, inputs: ReadonlyArray<NewMessage>) =>
      checkNotBlocked(room, actor.id).pipe(
        Effect.zipRight(storeRetryingRaces(room, actor.id, inputs)),
        Effect.flatMap((stored) => {
          const refused = inputs.filter((_, i) => Option.isNone(stored[i]!))
          return refused.length === 0 ? announce(room, stored, undefined) : Effect.flatMap(refusalOf(actor, room, refused), (refusal) => announce(room, stored, refusal))
        }),
        sqlErrors
      )

    /** The results of a run, publishing each message that was stored now (not the ones stored before under the same client_id). */
    const announce = (room: RoomId, stored: ReadonlyArray<Option.Option<{ readonly message: Message; readonly created: boolean }>>, refusal: (() => ChatSendError) | undefined) => {
      const results: Array<Either.Either<{ readonly message: Message; readonly created: boolean }, ChatSendError>> = []
      const fresh: Array<Message> = []
      for (const result of stored) {
        if (Option.isNone(result)) results.push(Either.left(refusal!()))
        else if (result.value.message.room_id !== room) {
          results.push(Either.left(Conflict.of("client_id was already used for a message in another room", "CLIENT_ID_REUSED")))
        } else {
          if (result.value.created) fresh.push(result.value.message)
          results.push(Either.right(result.value))
        }
      }
      if (fresh.length === 0) return Effect.succeed(results)
      if (fresh.length === 1) return Effect.as(bus.publish({ kind: "message", room, message: fresh[0]! }), results)
      return Effect.as(Effect.forEach(fresh, (message) => bus.publish({ kind: "message", room, message }), { discard: true }), results)
    }

    /** The message and the actor's membership of its room, when the actor may read it. */
    const messageInReadableRoom = (actor: Actor, id: MessageId) =>
      Effect.gen(function* () {
        const found = yield* repo.messageById(id)
        if (Option.isNone(found) || found.value.deleted) return yield* messageNotFound()
        const membership = yield* membershipOf(found.value.message.room_id, actor.id)
        if (!isMember(membership) && actor.role !== "admin") return yield* messageNotFound()
        return { message: found.value.message, membership }
      })

    const edit = (actor: Actor, id: MessageId, content: string) =>
      Effect.gen(function* () {
        const { message } = yield* messageInReadableRoom(actor, id)
        if (message.sender_id !== actor.id) return yield* Forbidden.of("you can only edit your own messages")
        const edited = yield* repo.editMessage(id, actor.id, content)
        if (Option.isNone(edited)) return yield* messageNotFound()
        yield* bus.publish({ kind: "room", room: message.room_id, durable: true, frame: { type: "message_edited", message: edited.value } })
        return edited.value
      }).pipe(sqlErrors)

    const remove = (actor: Actor, id: MessageId) =>
      Effect.gen(function* () {
        const { message, membership } = yield* messageInReadableRoom(actor, id)
        if (message.sender_id !== actor.id) {
          // Moderators remove messages of those ranked below them (a sender who left counts as a member).
          const sender = yield* membershipOf(message.room_id, message.sender_id)
          if (actor.role !== "admin" && !canModerate(actor, membership, sender?.role ?? "member")) return yield* Forbidden.of("you can only delete your own messages")
        }
        if (!(yield* repo.deleteMessage(id))) return yield* messageNotFound()
        yield* bus.publish({
          kind: "room",
          room: message.room_id,
          durable: true,
          frame: { type: "message_deleted", room_id: message.room_id, message_id: id, seq: message.seq, deleted_by: actor.id }
        })
        return message
      }).pipe(sqlErrors)

    const react = (actor: Actor, id: MessageId, emoji: string, add: boolean) =>
      Effect.gen(function* () {
        const { message, membership } = yield* messageInReadableRoom(actor, id)
        // Admins may read any room's messages, but reacting is taking part, like sending: members only.
        if (!isMember(membership)) return yield* notMember()
        if (add && membership.muted) return yield* Forbidden.of("you are muted in this room", "MUTED")
        const changed = add ? yield* repo.addReaction(id, actor.id, emoji) : yield* repo.removeReaction(id, actor.id, emoji)
        if (changed) {
          yield* bus.publish({
            kind: "room",
            room: message.room_id,
            durable: true,
            frame: { type: add ? "reaction_added" : "reaction_removed", room_id: message.room_id, message_id: id, user_id: actor.id, emoji }
          })
        }
        return message
      }).pipe(sqlErrors)

    const read = (actor: Actor, room: RoomId, id: MessageId) =>
      Effect.gen(function* () {
        const { message, membership } = yield* messageInReadableRoom(actor, id)
        if (message.room_id !== room) return yield* messageNotFound()
        if (!isMember(membership)) return yield* notMember()
        if (yield* repo.markRead(room, actor.id, message.seq)) {
          yield* bus.publish({
            kind: "room",
            room,
            durable: true,
            frame: { type: "read_receipt", room_id: room, user_id: actor.id, message_id: id, seq: message.seq }
          })
        }
      }).pipe(sqlErrors)

    /** The DM room with another user, created the first time; both members' connections are told. */
    const openDm = (actor: Actor, user: UserId) =>
      Effect.gen(function* () {
        if (user === actor.id) return yield* BadRequest.of("you cannot open a direct-message room with yourself")
        if (!(yield* repo.userExists(user))) return yield* NotFound.of("user not found", "USER_NOT_FOUND")
        if (yield* blocks.isBlocked(actor.id, user)) return yield* Forbidden.of("you cannot message this user", "BLOCKED")
        const { id, created } = yield* repo.openDm(actor.id, user)
        if (created) yield* announceMembership(id, user, "added", "dm_opened")
        return (yield* readable(actor, id)).room
      }).pipe(sqlErrors)

    /** Closes every chat connection of the user, on every node (after a ban). */
    const disconnectUser = (user: UserId, reason: string) => bus.publish({ kind: "disconnect", user, reason })

    return {
      createRoom,
      listRooms,
      getRoom,
      members,
      join,
      invite,
      leave,
      kick,
      updateMember,
      history,
      open,
      sendMany,
      edit,
      remove,
      react,
      read,
      openDm,
      disconnectUser,
      /** A message the actor may read, found by its id alone (reports and moderation name no room). */
      message: (actor: Actor, id: MessageId) => Effect.map(messageInReadableRoom(actor, id), (found) => found.message).pipe(sqlErrors),
      membership: (room: RoomId, user: UserId) => membershipOf(room, user).pipe(sqlErrors),
      roomIdsOf: (user: UserId) => repo.roomIdsOf(user).pipe(sqlErrors),
      /** Members of a room the caller already may read (no checks). */
      memberIdsOf: (room: RoomId) => repo.memberIds(room).pipe(sqlErrors),
      dmRoomIdsOf: (user: UserId) => repo.dmRoomIdsOf(user).pipe(sqlErrors),
      between: (room: RoomId, from: number, to: number) => repo.between(room, from, to).pipe(sqlErrors)
    } as const
  }),
  dependencies: [ChatRepo.Default]
}) {}

export type { Membership }
