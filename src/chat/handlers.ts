import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { VezaApi } from "../api.js"
import { Authenticator } from "../auth/authentication.js"
import { withActor } from "../auth/current-user.js"
import { NotFound } from "../platform/api-errors.js"
import type { UserId } from "../users/schema.js"
import type { CreateRoom, HistoryParams, MemberChange, RoomListParams } from "./api.js"
import { ChatConfig } from "./config.js"
import { CHAT_TOKEN_PURPOSE } from "./gateway.js"
import { ChatRpcs } from "./rpc.js"
import type { RoomId } from "./schema.js"
import { Chat } from "./service.js"

/** What HTTP and RPC both answer, given the parsed parameters. */
const ChatOperations = Effect.gen(function* () {
  const chat = yield* Chat
  const config = yield* ChatConfig
  const authenticator = yield* Authenticator
  return {
    createRoom: (input: typeof CreateRoom.Type) => withActor((actor) => chat.createRoom(actor, input)),
    listRooms: (params: typeof RoomListParams.Type) =>
      withActor((actor) => chat.listRooms(actor, { mine: params.mine === "true", cursor: params.cursor, limit: params.limit ?? 50 })),
    getRoom: (id: RoomId) => withActor((actor) => chat.getRoom(actor, id)),
    join: (id: RoomId) => withActor((actor) => chat.join(actor, id)),
    leave: (id: RoomId) => withActor((actor) => chat.leave(actor, id)),
    members: (id: RoomId) => withActor((actor) => Effect.map(chat.members(actor, id), (items) => ({ items }))),
    invite: (id: RoomId, user: UserId) => withActor((actor) => chat.invite(actor, id, user)),
    updateMember: (id: RoomId, user: UserId, change: typeof MemberChange.Type) =>
      withActor((actor) =>
        Effect.flatMap(chat.updateMember(actor, id, user, change), (member) =>
          member === undefined ? Effect.fail(NotFound.of("that user is no longer a member of this room", "MEMBER_NOT_FOUND")) : Effect.succeed(member)
        )
      ),
    kick: (id: RoomId, user: UserId) => withActor((actor) => chat.kick(actor, id, user)),
    history: (id: RoomId, params: typeof HistoryParams.Type) => withActor((actor) => chat.history(actor, id, params.before_seq, params.limit ?? 50)),
    token: () =>
      withActor((actor) =>
        Effect.map(authenticator.issuePurposeToken(actor, CHAT_TOKEN_PURPOSE, config.tokenTtlSeconds), ({ token, expiresIn }) => ({
          token,
          expires_in: expiresIn
        }))
      )
  }
})

export const ChatHandlers = HttpApiBuilder.group(VezaApi, "chat", (handlers) =>
  Effect.map(ChatOperations, (ops) =>
    handlers
      .handle("createRoom", ({ payload }) => ops.createRoom(payload))
      .handle("listRooms", ({ urlParams }) => ops.listRooms(urlParams))
      .handle("getRoom", ({ path }) => ops.getRoom(path.id))
      .handle("joinRoom", ({ path }) => ops.join(path.id))
      .handle("leaveRoom", ({ path }) => ops.leave(path.id))
      .handle("members", ({ path }) => ops.members(path.id))
      .handle("invite", ({ path, payload }) => ops.invite(path.id, payload.user_id))
      .handle("updateMember", ({ path, payload }) => ops.updateMember(path.id, path.user_id, payload))
      .handle("kick", ({ path }) => ops.kick(path.id, path.user_id))
      .handle("history", ({ path, urlParams }) => ops.history(path.id, urlParams))
      .handle("token", () => ops.token())
  )
)

export const ChatRpcHandlers = ChatRpcs.toLayer(
  Effect.gen(function* () {
    const ops = yield* ChatOperations
    return {
      "chat.createRoom": (input) => ops.createRoom(input),
      "chat.listRooms": (params) => ops.listRooms(params),
      "chat.getRoom": ({ id }) => ops.getRoom(id),
      "chat.joinRoom": ({ id }) => ops.join(id),
      "chat.leaveRoom": ({ id }) => ops.leave(id),
      "chat.members": ({ id }) => ops.members(id),
      "chat.invite": ({ id, user_id }) => ops.invite(id, user_id),
      "chat.updateMember": ({ id, user_id, change }) => ops.updateMember(id, user_id, change),
      "chat.kick": ({ id, user_id }) => ops.kick(id, user_id),
      "chat.history": ({ id, ...params }) => ops.history(id, params),
      "chat.token": () => ops.token()
    }
  })
)
