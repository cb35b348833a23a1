import { type Either, ParseResult, Schema } from "effect"
import { UserId } from "../users/schema.js"
import { ClientMessageId, Emoji, MessageContent, MessageId, RoomId } from "./schema.js"

const Ref = Schema.optional(Schema.Union(Schema.String.pipe(Schema.maxLength(64)), Schema.Number))
const Seq = Schema.Int.pipe(Schema.greaterThanOrEqualTo(0), Schema.lessThanOrEqualTo(Number.MAX_SAFE_INTEGER))

const frame = <T extends string, F extends Schema.Struct.Fields>(type: T, fields: F) =>
  Schema.Struct({ type: Schema.Literal(type), ref: Ref, ...fields })

/** SPEC §5, client → server. */
export const ClientFrame = Schema.Union(
  frame("authenticate", { token: Schema.String.pipe(Schema.maxLength(4096)) }),
  frame("join", { room_id: RoomId, since_seq: Schema.optional(Seq) }),
  frame("leave", { room_id: RoomId }),
  frame("send", { room_id: RoomId, client_id: ClientMessageId, content: MessageContent, reply_to: Schema.optional(Schema.NullOr(MessageId)) }),
  frame("edit", { message_id: MessageId, content: MessageContent }),
  frame("delete", { message_id: MessageId }),
  frame("react", { message_id: MessageId, emoji: Emoji }),
  frame("unreact", { message_id: MessageId, emoji: Emoji }),
  frame("typing", { room_id: RoomId, state: Schema.Literal("start", "stop") }),
  frame("read", { room_id: RoomId, message_id: MessageId }),
  frame("history", {
    room_id: RoomId,
    before_seq: Schema.optional(Seq),
    limit: Schema.optional(Schema.Int.pipe(Schema.between(1, 100, { message: () => "limit must be between 1 and 100" })))
  }),
  frame("presence", { status: Schema.Literal("online", "away", "offline") }),
  frame("dm_open", { user_id: UserId }),
  frame("ping", { ts: Schema.optional(Schema.Number) })
)
export type ClientFrame = typeof ClientFrame.Type

const decodeByType = new Map<string, (input: unknown) => Either.Either<unknown, ParseResult.ParseError>>(
  ClientFrame.members.map((m) => [m.fields.type.literals[0], Schema.decodeUnknownEither(m as Schema.Schema<unknown, unknown>, { errors: "first" })])
)

export type FrameProblem = { readonly code: "BAD_FRAME" | "UNKNOWN_TYPE" | "VALIDATION_ERROR"; readonly message: string; readonly ref?: unknown }

/** Parses one text frame; a problem names what was wrong in words a client developer can act on. */
export const parseFrame = (text: string): { readonly frame: ClientFrame } | { readonly problem: FrameProblem } => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { problem: { code: "BAD_FRAME", message: "frames must be JSON text" } }
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return { problem: { code: "BAD_FRAME", message: "a frame must be a JSON object with a type" } }
  const record = json as Record<string, unknown>
  const ref = typeof record["ref"] === "string" || typeof record["ref"] === "number" ? record["ref"] : undefined
  const type = record["type"]
  if (typeof type !== "string") return { problem: { code: "BAD_FRAME", message: "a frame must have a string type", ref } }
  const decode = decodeByType.get(type)
  if (decode === undefined) return { problem: { code: "UNKNOWN_TYPE", message: `unknown frame type "${type.slice(0, 40)}"`, ref } }
  const result = decode(json)
  if (result._tag === "Right") return { frame: result.right as ClientFrame }
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(result.left)
  const where = issue === undefined || issue.path.length === 0 ? "" : `${issue.path.join(".")}: `
  return { problem: { code: "VALIDATION_ERROR", message: `${where}${issue?.message ?? "invalid frame"}`, ref } }
}
