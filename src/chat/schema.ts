import { Schema } from "effect"
import { StoredText } from "../platform/text.js"
import { UserId } from "../users/schema.js"

export const RoomId = Schema.UUID.pipe(Schema.brand("RoomId"))
export type RoomId = typeof RoomId.Type

export const MessageId = Schema.UUID.pipe(Schema.brand("MessageId"))
export type MessageId = typeof MessageId.Type

export const RoomType = Schema.Literal("public", "private", "dm")
export type RoomType = typeof RoomType.Type

export const MemberRole = Schema.Literal("owner", "moderator", "member")
export type MemberRole = typeof MemberRole.Type

export const Room = Schema.Struct({
  id: RoomId,
  type: RoomType,
  name: Schema.NullOr(Schema.String),
  description: Schema.NullOr(Schema.String),
  creator_id: Schema.NullOr(UserId),
  member_count: Schema.Int,
  last_seq: Schema.Int,
  /** The caller's membership, when it has one. */
  my_role: Schema.NullOr(MemberRole),
  created_at: Schema.Date,
  updated_at: Schema.Date
}).annotations({ identifier: "ChatRoom" })
export type Room = typeof Room.Type

export const Member = Schema.Struct({
  user_id: UserId,
  username: Schema.String,
  role: MemberRole,
  muted: Schema.Boolean,
  last_read_seq: Schema.Int,
  joined_at: Schema.Date
}).annotations({ identifier: "ChatMember" })
export type Member = typeof Member.Type

/** One emoji on a message: who put it there, in the order they did. */
export const Reaction = Schema.Struct({
  emoji: Schema.String,
  count: Schema.Int,
  user_ids: Schema.Array(UserId)
}).annotations({ identifier: "ChatReaction" })
export type Reaction = typeof Reaction.Type

/** SPEC §5: how a message travels, in frames and in history. */
export const Message = Schema.Struct({
  id: MessageId,
  room_id: RoomId,
  seq: Schema.Int,
  sender_id: UserId,
  content: Schema.String,
  reply_to: Schema.NullOr(MessageId),
  created_at: Schema.Date,
  edited_at: Schema.NullOr(Schema.Date),
  /**
   * Ordered by first reaction. Present where a message is read back (history,
   * a `joined` replay); a new message's live frames leave it out, as it has none.
   */
  reactions: Schema.optional(Schema.Array(Reaction))
}).annotations({ identifier: "ChatMessage" })
export type Message = typeof Message.Type

export const MAX_CONTENT_CHARS = 4000

/** 1–4000 characters (code points), not blank. */
export const MessageContent = StoredText.pipe(
  Schema.filter((s) => s.trim().length > 0, { message: () => "content must not be blank" }),
  Schema.filter((s) => [...s].length <= MAX_CONTENT_CHARS, { message: () => `content must be at most ${MAX_CONTENT_CHARS} characters` })
)

// Lengths count code points, as the database's varchar does: an emoji is one character, not two UTF-16 units.
export const RoomName = StoredText.pipe(
  Schema.transform(Schema.String, { strict: true, decode: (s) => s.trim(), encode: (s) => s }),
  Schema.minLength(1, { message: () => "name must not be blank" }),
  Schema.filter((s) => [...s].length <= 100, { message: () => "name must be at most 100 characters", jsonSchema: { maxLength: 100 } })
)

export const RoomDescription = StoredText.pipe(
  Schema.filter((s) => [...s].length <= 1000, { message: () => "description must be at most 1000 characters", jsonSchema: { maxLength: 1000 } })
)

export const Emoji = StoredText.pipe(
  Schema.filter((s) => s.length > 0 && s.length <= 32 && !/\s/.test(s), { message: () => "emoji must be 1-32 characters without spaces" })
)

export const ClientMessageId = StoredText.pipe(
  Schema.filter((s) => s.length > 0 && s.length <= 64, { message: () => "client_id must be 1-64 characters" })
)
