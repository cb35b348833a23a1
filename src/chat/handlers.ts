import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { VezaApi } from "../api.js"
import { Authenticator } from "../auth/authentication.js"
import { CurrentUser } from "../auth/current-user.js"
import { NotFound } from "../platform/api-errors.js"
import { ChatConfig } from "./config.js"
import { CHAT_TOKEN_PURPOSE } from "./gateway.js"
import { Chat } from "./service.js"

export const ChatHandlers = HttpApiBuilder.group(VezaApi, "chat", (handlers) =>
  Effect.gen(function* () {
    const chat = yield* Chat
    const config = yield* ChatConfig
    const authenticator = yield* Authenticator
    const withActor = <A, E, R>(f: (actor: typeof CurrentUser.Service) => Effect.Effect<A, E, R>) => Effect.flatMap(CurrentUser, f)
    return handlers
      .handle("createRoom", ({ payload }) => withActor((actor) => chat.createRoom(actor, payload)))
      .handle("listRooms", ({ urlParams }) =>
        withActor((actor) => chat.listRooms(actor, { mine: urlParams.mine === "true", cursor: urlParams.cursor, limit: urlParams.limit ?? 50 }))
      )
      .handle("getRoom", ({ path }) => withActor((actor) => chat.getRoom(actor, path.id)))
      .handle("joinRoom", ({ path }) => withActor((actor) => chat.join(actor, path.id)))
      .handle("leaveRoom", ({ path }) => withActor((actor) => chat.leave(actor, path.id)))
      .handle("members", ({ path }) => withActor((actor) => Effect.map(chat.members(actor, path.id), (items) => ({ items }))))
      .handle("invite", ({ path, payload }) => withActor((actor) => chat.invite(actor, path.id, payload.user_id)))
      .handle("updateMember", ({ path, payload }) =>
        withActor((actor) =>
          Effect.flatMap(chat.updateMember(actor, path.id, path.user_id, payload), (member) =>
            member === undefined ? Effect.fail(NotFound.of("that user is no longer a member of this room", "MEMBER_NOT_FOUND")) : Effect.succeed(member)
          )
        )
      )
      .handle("kick", ({ path }) => withActor((actor) => chat.kick(actor, path.id, path.user_id)))
      .handle("history", ({ path, urlParams }) => withActor((actor) => chat.history(actor, path.id, urlParams.before_seq, urlParams.limit ?? 50)))
      .handle("token", () =>
        withActor((actor) =>
          Effect.map(authenticator.issuePurposeToken(actor, CHAT_TOKEN_PURPOSE, config.tokenTtlSeconds), ({ token, expiresIn }) => ({
            token,
            expires_in: expiresIn
          }))
        )
      )
  })
)
