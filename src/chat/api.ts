import { HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { Authentication } from "../auth/api.js"
import { BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable, Unauthorized } from "../platform/api-errors.js"
import { UserId } from "../users/schema.js"
import { Member, MemberRole, Message, Room, RoomDescription, RoomId, RoomName } from "./schema.js"

const RoomPath = Schema.Struct({ id: RoomId })
const MemberPath = Schema.Struct({ id: RoomId, user_id: UserId })

const IntFromString = (name: string, min: number, max: number) =>
  Schema.NumberFromString.pipe(
    Schema.int({ message: () => `${name} must be an integer` }),
    Schema.between(min, max, { message: () => `${name} must be between ${min} and ${max}` })
  )

export const CreateRoom = Schema.Struct({
  name: RoomName,
  type: Schema.optionalWith(Schema.Literal("public", "private"), { default: () => "public" as const }),
  description: Schema.optional(RoomDescription)
})

export const RoomList = Schema.Struct({ items: Schema.Array(Room), next_cursor: Schema.NullOr(Schema.String) })

export const MessagePage = Schema.Struct({ items: Schema.Array(Message), has_more: Schema.Boolean })

export const MemberChange = Schema.Struct({
  role: Schema.optional(MemberRole),
  muted: Schema.optional(Schema.Boolean),
  banned: Schema.optional(Schema.Boolean)
})

export const ChatToken = Schema.Struct({ token: Schema.String, expires_in: Schema.Int })

export const RoomListParams = Schema.Struct({
  mine: Schema.optional(Schema.Literal("true", "false")),
  cursor: Schema.optional(Schema.String.pipe(Schema.maxLength(200))),
  limit: Schema.optional(IntFromString("limit", 1, 100))
})

export const HistoryParams = Schema.Struct({
  before_seq: Schema.optional(IntFromString("before_seq", 1, Number.MAX_SAFE_INTEGER)),
  limit: Schema.optional(IntFromString("limit", 1, 100))
})

export const MemberList = Schema.Struct({ items: Schema.Array(Member) })

export const MemberInvitation = Schema.Struct({ user_id: UserId })

/** Chat over REST (SPEC §4): rooms, members, history, and the token for `/ws`. */
export class ChatApi extends HttpApiGroup.make("chat")
  .add(
    HttpApiEndpoint.post("createRoom", "/chat/rooms")
      .setPayload(CreateRoom)
      .addSuccess(Room, { status: 201 })
      .addError(BadRequest.envelope)
      .addError(NotFound.envelope)
  )
  .add(
    HttpApiEndpoint.get("listRooms", "/chat/rooms")
      .setUrlParams(RoomListParams)
      .addSuccess(RoomList)
      .addError(BadRequest.envelope)
  )
  .add(HttpApiEndpoint.get("getRoom", "/chat/rooms/:id").setPath(RoomPath).addSuccess(Room).addError(NotFound.envelope))
  .add(HttpApiEndpoint.post("joinRoom", "/chat/rooms/:id/join").setPath(RoomPath).addSuccess(Room).addError(NotFound.envelope).addError(Forbidden.envelope))
  .add(
    HttpApiEndpoint.post("leaveRoom", "/chat/rooms/:id/leave")
      .setPath(RoomPath)
      .addSuccess(Schema.Void, { status: 204 })
      .addError(NotFound.envelope)
      .addError(Forbidden.envelope)
      .addError(Conflict.envelope)
  )
  .add(
    HttpApiEndpoint.get("members", "/chat/rooms/:id/members").setPath(RoomPath).addSuccess(MemberList).addError(NotFound.envelope)
  )
  .add(
    HttpApiEndpoint.post("invite", "/chat/rooms/:id/members")
      .setPath(RoomPath)
      .setPayload(MemberInvitation)
      .addSuccess(Schema.Void, { status: 204 })
      .addError(BadRequest.envelope)
      .addError(NotFound.envelope)
      .addError(Forbidden.envelope)
      .addError(Conflict.envelope)
  )
  .add(
    HttpApiEndpoint.patch("updateMember", "/chat/rooms/:id/members/:user_id")
      .setPath(MemberPath)
      .setPayload(MemberChange)
      .addSuccess(Member)
      .addError(BadRequest.envelope)
      .addError(NotFound.envelope)
      .addError(Forbidden.envelope)
      .addError(Conflict.envelope)
  )
  .add(
    HttpApiEndpoint.del("kick", "/chat/rooms/:id/members/:user_id")
      .setPath(MemberPath)
      .addSuccess(Schema.Void, { status: 204 })
      .addError(NotFound.envelope)
      .addError(Forbidden.envelope)
  )
  .add(
    HttpApiEndpoint.get("history", "/chat/rooms/:id/messages")
      .setPath(RoomPath)
      .setUrlParams(HistoryParams)
      .addSuccess(MessagePage)
      .addError(BadRequest.envelope)
      .addError(NotFound.envelope)
  )
  .add(HttpApiEndpoint.post("token", "/chat/token").addSuccess(ChatToken))
  .addError(Unauthorized.envelope)
  .addError(ServiceUnavailable.envelope)
  .middleware(Authentication) {}
