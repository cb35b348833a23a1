import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Cause, Effect, Exit, Option, Runtime } from "effect"
import { unavailableError } from "../platform/sql-errors.js"
import { ChatConfig } from "./config.js"
import type { UserId } from "../users/schema.js"
import type { MemberRole, Message, MessageId, Reaction, Room, RoomId, RoomType } from "./schema.js"
import { rowLimit } from "../platform/cursor.js"

export interface Membership {
  readonly role: MemberRole
  readonly muted: boolean
  readonly banned: boolean
}

export interface RoomRow {
  readonly id: RoomId
  readonly type: RoomType
  readonly name: string | null
  readonly description: string | null
  readonly creator_id: UserId | null
  readonly member_count: number
  readonly last_seq: number
  readonly my_role: MemberRole | null
  readonly created_at: Date
  readonly updated_at: Date
}

interface MessageRow {
  readonly id: MessageId
  readonly room_id: RoomId
  readonly seq: string | number
  readonly sender_id: UserId
  readonly content: string
  readonly reply_to: MessageId | null
  readonly created_at: Date
  readonly edited_at: Date | null
}

/** Why a send stored nothing. */
export type SendRefusal = "not_member" | "muted" | "bad_reply"

const toMessage = (r: MessageRow): Message => ({
  id: r.id,
  room_id: r.room_id,
  seq: Number(r.seq),
  sender_id: r.sender_id,
  content: r.content,
  reply_to: r.reply_to,
  created_at: r.created_at,
  edited_at: r.edited_at
})

/** A message read back with its reactions (aggregated by the query, in the same row). */
const toMessageWithReactions = (r: MessageRow & { readonly reactions: ReadonlyArray<Reaction> }): Message => ({ ...toMessage(r), reactions: r.reactions })

const toRoom = (r: RoomRow): Room => ({ ...r, member_count: Number(r.member_count), last_seq: Number(r.last_seq) })

const MESSAGE_COLUMNS = "id, room_id, seq, sender_id, content, reply_to, created_at, edited_at"

export interface NewMessage {
  readonly clientId: string
  readonly content: string
  readonly replyTo: MessageId | null
}

/**
 * The columns of `chat_messages m` and its reactions, one entry per emoji in
 * the order each emoji was first used, in the same row: one query for a page,
 * however many messages have reactions.
 */
const MESSAGE_WITH_REACTIONS_COLUMNS = `
  m.id, m.room_id, m.seq, m.sender_id, m.content, m.reply_to, m.created_at, m.edited_at,
  coalesce((select json_agg(json_build_object('emoji', g.emoji, 'count', g.count, 'user_ids', g.user_ids) order by g.first_at, g.emoji)
              from (select r.emoji, count(*)::int as count, array_agg(r.user_id order by r.created_at, r.user_id) as user_ids,
                           min(r.created_at) as first_at
                      from chat_reactions r where r.message_id = m.id group by r.emoji) g), '[]') as reactions`

/** Runs stored by one statement at most (a run is up to 64 messages). */
const STORE_MAX_RUNS = 64

export class ChatRepo extends Effect.Service<ChatRepo>()("veza/ChatRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // Store statements running at once before runs wait to share the next one (the pool serves other queries too).
    const { storeStatements } = yield* ChatConfig
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const messageColumns = sql.literal(MESSAGE_COLUMNS)
    const messageWithReactionsColumns = sql.literal(MESSAGE_WITH_REACTIONS_COLUMNS)

    /** The room and the viewer's membership (banned or not), in one read. */
    const roomWithMembership = (id: RoomId, viewer: UserId) =>
      sql<RoomRow & { member_role: MemberRole | null; muted: boolean | null; banned_at: Date | null }>`
        select r.id, r.type, r.name, r.description, r.creator_id, r.member_count, r.last_seq, r.created_at, r.updated_at,
               case when m.banned_at is null then m.role end as my_role,
               m.role as member_role, m.muted, m.banned_at
          from chat_rooms r
          left join chat_members m on m.room_id = r.id and m.user_id = ${viewer}
         where r.id = ${id} and r.deleted_at is null`.pipe(
        Effect.map((rows) =>
          Option.map(Option.fromNullable(rows[0]), ({ member_role, muted, banned_at, ...room }) => ({
            room: toRoom(room),
            membership: member_role === null ? undefined : ({ role: member_role, muted: muted === true, banned: banned_at !== null } satisfies Membership)
          }))
        )
      )

    const roomById = (id: RoomId, viewer: UserId) => Effect.map(roomWithMembership(id, viewer), Option.map((r) => r.room))

    const createRoom = (owner: UserId, room: { type: "public" | "private"; name: string; description: string | null }) =>
      sql.withTransaction(
        Effect.gen(function* () {
          const [row] = yield* sql<{ id: RoomId }>`
            insert into chat_rooms (type, name, description, creator_id)
            values (${room.type}, ${room.name}, ${room.description}, ${owner}) returning id`
          yield* sql`insert into chat_members (room_id, user_id, role) values (${row!.id}, ${owner}, 'owner')`
          return row!.id
        })
      )

    /**
     * Public rooms and the viewer's own rooms, newest first, after the cursor (created_at, id).
     * Sorted and compared at millisecond precision: the cursor carries a JS Date, which
     * drops the microseconds PostgreSQL keeps, and rooms created within one millisecond
     * would otherwise fall between two pages.
     */
    const listRooms = (viewer: UserId, options: { mine: boolean; after: Option.Option<{ createdAt: Date; id: string }>; limit: number }) => {
      const after = Option.getOrUndefined(options.after)
      return sql<RoomRow>`
        select r.id, r.type, r.name, r.description, r.creator_id, r.member_count, r.last_seq, r.created_at, r.updated_at, m.role as my_role
          from chat_rooms r
          left join chat_members m on m.room_id = r.id and m.user_id = ${viewer} and m.banned_at is null
         where r.deleted_at is null
           and ${options.mine ? sql`m.user_id is not null` : sql`(r.type = 'public' or m.user_id is not null)`}
           ${after === undefined ? sql`` : sql`and (date_trunc('milliseconds', r.created_at), r.id) < (${after.createdAt}, ${after.id})`}
         order by date_trunc('milliseconds', r.created_at) desc, r.id desc
         limit ${rowLimit(options.limit + 1)}`.pipe(Effect.map((rows) => rows.map(toRoom)))
    }

    const membership = (room: RoomId, user: UserId) =>
      sql<{ role: MemberRole; muted: boolean; banned_at: Date | null }>`
        select role, muted, banned_at from chat_members where room_id = ${room} and user_id = ${user}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), (r): Membership => ({ role: r.role, muted: r.muted, banned: r.banned_at !== null })))
      )

    /** Adds the user as a member; false when a row already exists (member, or banned). */
    const addMember = (room: RoomId, user: UserId, role: MemberRole) =>
      sql`insert into chat_members (room_id, user_id, role) values (${room}, ${user}, ${role}) on conflict do nothing returning user_id`.pipe(
        Effect.map((rows) => rows.length > 0)
      )

    const removeMember = (room: RoomId, user: UserId) =>
      sql`delete from chat_members where room_id = ${room} and user_id = ${user} and banned_at is null returning user_id`.pipe(
        Effect.map((rows) => rows.length > 0)
      )

    const updateMember = (room: RoomId, user: UserId, change: { role?: MemberRole | undefined; muted?: boolean | undefined; banned?: boolean | undefined }) =>
      sql`
        update chat_members
           set role = coalesce(${change.role ?? null}::chat_member_role, role),
               muted = coalesce(${change.muted ?? null}::boolean, muted),
               banned_at = case when ${change.banned ?? null}::boolean is null then banned_at
                                when ${change.banned ?? null}::boolean then coalesce(banned_at, now())
                                else null end
         where room_id = ${room} and user_id = ${user}
        returning user_id`.pipe(Effect.map((rows) => rows.length > 0))

    /** The room's one owner becomes `to`; the previous owner stays on as a moderator. */
    const transferOwnership = (room: RoomId, to: UserId) =>
      sql.withTransaction(
        Effect.gen(function* () {
          yield* sql`update chat_members set role = 'moderator' where room_id = ${room} and role = 'owner'`
          yield* sql`update chat_members set role = 'owner' where room_id = ${room} and user_id = ${to}`
        })
      )

    const members = (room: RoomId) =>
      sql<{ user_id: UserId; username: string; role: MemberRole; muted: boolean; last_read_seq: string; joined_at: Date }>`
        select m.user_id, u.username, m.role, m.muted, m.last_read_seq, m.joined_at
          from chat_members m join users u on u.id = m.user_id
         where m.room_id = ${room} and m.banned_at is null
         order by m.joined_at, m.user_id`.pipe(Effect.map((rows) => rows.map((r) => ({ ...r, last_read_seq: Number(r.last_read_seq) }))))

    /** One member's row, banned or not (what a moderator just changed). */
    const member = (room: RoomId, user: UserId) =>
      sql<{ user_id: UserId; username: string; role: MemberRole; muted: boolean; last_read_seq: string; joined_at: Date }>`
        select m.user_id, u.username, m.role, m.muted, m.last_read_seq, m.joined_at
          from chat_members m join users u on u.id = m.user_id
         where m.room_id = ${room} and m.user_id = ${user}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), (r) => ({ ...r, last_read_seq: Number(r.last_read_seq) })))
      )

    const memberIds = (room: RoomId) =>
      sql<{ user_id: UserId }>`select user_id from chat_members where room_id = ${room} and banned_at is null`.pipe(
        Effect.map((rows) => rows.map((r) => r.user_id))
      )

    const roomIdsOf = (user: UserId) =>
      sql<{ room_id: RoomId }>`select room_id from chat_members where user_id = ${user} and banned_at is null`.pipe(
        Effect.map((rows) => rows.map((r) => r.room_id))
      )

    const dmRoomIdsOf = (user: UserId) =>
      sql<{ id: RoomId }>`
        select id from chat_rooms where type = 'dm' and deleted_at is null and (dm_low = ${user} or dm_high = ${user})`.pipe(
        Effect.map((rows) => rows.map((r) => r.id))
      )

    type StoredRun = Array<Option.Option<{ readonly message: Message; readonly created: boolean }>>
    interface WaitingRun {
      readonly room: RoomId
      readonly sender: UserId
      readonly inputs: ReadonlyArray<NewMessage>
      readonly resume: (stored: Effect.Effect<StoredRun, SqlError>) => void
    }

    /** The runs in one `chat_store_runs` statement; each run's results in its inputs' order. */
    const storeRuns = (runs: ReadonlyArray<WaitingRun>) => {
      const [rooms, senders, clientIds, contents, replyTo]: [Array<RoomId>, Array<UserId>, Array<string>, Array<string>, Array<MessageId | null>] = [[], [], [], [], []]
      for (const run of runs) {
        for (const input of run.inputs) {
          rooms.push(run.room)
          senders.push(run.sender)
          clientIds.push(input.clientId)
          contents.push(input.content)
          replyTo.push(input.replyTo)
        }
      }
      return sql<MessageRow & { ord: string; created: boolean }>`
        select * from chat_store_runs(${rooms}::uuid[], ${senders}::uuid[], ${clientIds}::text[], ${contents}::text[], ${replyTo}::uuid[])`.pipe(
        Effect.map((rows) => {
          const byOrd = new Map(rows.map((r) => [Number(r.ord), r]))
          let ord = 0
          return runs.map((run): StoredRun =>
            run.inputs.map(() => Option.map(Option.fromNullable(byOrd.get(++ord)), (r) => ({ message: toMessage(r), created: r.created })))
          )
        })
      )
    }

    // Group commit. Runs are dispatched at the end of the event-loop turn in
    // which they arrived (`setImmediate`: after the I/O callbacks of this
    // turn), so the sends that clients wrote at about the same time, read in
    // one turn, share one statement and its commit instead of the first ones
    // taking a statement each; while `storeStatements` statements run, the runs
    // that arrive wait and then go together in the next one.
    const waiting: Array<WaitingRun> = []
    let inFlight = 0
    let pumpScheduled = false
    const dispatch = (batch: ReadonlyArray<WaitingRun>) => {
      inFlight++
      runFork(
        Effect.flatMap(Effect.exit(storeRuns(batch)), (exit) =>
          Effect.sync(() => {
            inFlight--
            if (Exit.isFailure(exit) && batch.length > 1 && Option.isNone(Option.flatMap(Cause.failureOption(exit.cause), unavailableError))) {
              // One run's failure (a bug, a constraint) must not fail the other senders' runs: each goes again alone.
              for (const run of batch) dispatch([run])
            } else batch.forEach((run, i) => run.resume(Exit.map(exit, (stored) => stored[i]!)))
            schedulePump()
          })
        )
      )
    }
    const pump = () => {
      pumpScheduled = false
      while (inFlight < storeStatements && waiting.length > 0) dispatch(waiting.splice(0, STORE_MAX_RUNS))
    }
    const schedulePump = () => {
      if (pumpScheduled || waiting.length === 0) return
      pumpScheduled = true
      setImmediate(pump)
    }

    /**
     * Stores a run of messages from one sender to one room, in order: the
     * room's seq is bumped by the number stored, so seqs have no gaps, and the
     * room row's lock orders concurrent sends (seq order is commit order). A
     * message is stored only when the sender may post, its reply target is a
     * live message of the room and no message with its client_id exists; one
     * result per input, in order: the stored message, or the one stored before
     * under that client_id, or None (refused). The client_ids of one run must
     * differ. Runs of other connections waiting at the same moment share the
     * statement and its commit (`chat_store_runs`, migration 0012).
     */
    const insertMessages = (room: RoomId, sender: UserId, inputs: ReadonlyArray<NewMessage>) =>
      Effect.async<StoredRun, SqlError>((resume) => {
        waiting.push({ room, sender, inputs, resume })
        schedulePump()
      })

    /** Why insertMessages stored nothing (read after the fact; only on the refusal path). */
    const sendRefusal = (room: RoomId, sender: UserId, replyTo: MessageId | null) =>
      Effect.map(membership(room, sender), (m): SendRefusal =>
        Option.isNone(m) || m.value.banned ? "not_member" : m.value.muted ? "muted" : replyTo !== null ? "bad_reply" : "not_member"
      )

    const messageById = (id: MessageId) =>
      sql<MessageRow & { deleted: boolean }>`
        select ${messageColumns}, deleted_at is not null as deleted from chat_messages where id = ${id}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), (r) => ({ message: toMessage(r), deleted: r.deleted })))
      )

    const editMessage = (id: MessageId, sender: UserId, content: string) =>
      sql<MessageRow>`
        update chat_messages set content = ${content}, edited_at = now()
         where id = ${id} and sender_id = ${sender} and deleted_at is null
        returning ${messageColumns}`.pipe(Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toMessage)))

    const deleteMessage = (id: MessageId) =>
      sql`update chat_messages set deleted_at = now() where id = ${id} and deleted_at is null returning id`.pipe(
        Effect.map((rows) => rows.length > 0)
      )

    const addReaction = (message: MessageId, user: UserId, emoji: string) =>
      sql`insert into chat_reactions (message_id, user_id, emoji) values (${message}, ${user}, ${emoji}) on conflict do nothing returning emoji`.pipe(
        Effect.map((rows) => rows.length > 0)
      )

    const removeReaction = (message: MessageId, user: UserId, emoji: string) =>
      sql`delete from chat_reactions where message_id = ${message} and user_id = ${user} and emoji = ${emoji} returning emoji`.pipe(
        Effect.map((rows) => rows.length > 0)
      )

    /** Moves the member's read marker forward to the message (never back); the new marker, if it moved. */
    const markRead = (room: RoomId, user: UserId, seq: number) =>
      sql<{ last_read_seq: string }>`
        update chat_members set last_read_seq = ${seq}
         where room_id = ${room} and user_id = ${user} and banned_at is null and last_read_seq < ${seq}
        returning last_read_seq`.pipe(Effect.map((rows) => rows.length > 0))

    /** Visible messages before `beforeSeq` (newest first in the query, returned oldest first). */
    const history = (room: RoomId, beforeSeq: number | undefined, limit: number) =>
      sql<MessageRow & { reactions: ReadonlyArray<Reaction> }>`
        select ${messageWithReactionsColumns} from chat_messages m
         where m.room_id = ${room} and m.deleted_at is null ${beforeSeq === undefined ? sql`` : sql`and m.seq < ${beforeSeq}`}
         order by m.seq desc limit ${rowLimit(limit + 1)}`.pipe(
        Effect.map((rows) => ({ messages: rows.slice(0, limit).reverse().map(toMessageWithReactions), hasMore: rows.length > limit }))
      )

    /** Visible messages with from < seq <= to, in order (recovery and gap filling). */
    const between = (room: RoomId, from: number, to: number) =>
      sql<MessageRow & { reactions: ReadonlyArray<Reaction> }>`
        select ${messageWithReactionsColumns} from chat_messages m
         where m.room_id = ${room} and m.seq > ${from} and m.seq <= ${to} and m.deleted_at is null
         order by m.seq`.pipe(Effect.map((rows) => rows.map(toMessageWithReactions)))

    const lastSeq = (room: RoomId) =>
      sql<{ last_seq: string }>`select last_seq from chat_rooms where id = ${room}`.pipe(Effect.map((rows) => Number(rows[0]?.last_seq ?? 0)))

    /** The direct-message room of a pair, created (with both as members) the first time. */
    const openDm = (a: UserId, b: UserId) =>
      sql.withTransaction(
        Effect.gen(function* () {
          const [low, high] = a < b ? [a, b] : [b, a]
          const created = yield* sql<{ id: RoomId }>`
            insert into chat_rooms (type, creator_id, dm_low, dm_high) values ('dm', ${a}, ${low}, ${high})
            on conflict (dm_low, dm_high) where type = 'dm' do nothing returning id`
          if (created[0] !== undefined) {
            yield* sql`insert into chat_members (room_id, user_id, role) values (${created[0].id}, ${low}, 'member'), (${created[0].id}, ${high}, 'member')`
            return { id: created[0].id, created: true }
          }
          const [existing] = yield* sql<{ id: RoomId }>`select id from chat_rooms where type = 'dm' and dm_low = ${low} and dm_high = ${high}`
          return { id: existing!.id, created: false }
        })
      )

    /** The two members of a DM room (None for other rooms). */
    const dmPair = (room: RoomId) =>
      sql<{ dm_low: UserId; dm_high: UserId }>`select dm_low, dm_high from chat_rooms where id = ${room} and type = 'dm'`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), (r) => [r.dm_low, r.dm_high] as const))
      )

    const userExists = (id: UserId) =>
      sql`select 1 from users where id = ${id} and deleted_at is null and is_active and not is_banned`.pipe(Effect.map((rows) => rows.length > 0))

    return {
      roomById,
      roomWithMembership,
      createRoom,
      listRooms,
      membership,
      addMember,
      removeMember,
      updateMember,
      transferOwnership,
      members,
      member,
      memberIds,
      roomIdsOf,
      dmRoomIdsOf,
      insertMessages,
      sendRefusal,
      messageById,
      editMessage,
      deleteMessage,
      addReaction,
      removeReaction,
      markRead,
      history,
      between,
      lastSeq,
      openDm,
      dmPair,
      userExists
    } as const
  })
}) {}
