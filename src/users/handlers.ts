import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { VezaApi } from "../api.js"
import { CurrentUser } from "../auth/current-user.js"
import { policyUse } from "../auth/policy.js"
import { ClientInfoReader } from "../platform/client-info.js"
import { canUpdate } from "./policy.js"
import { UsersRpcs } from "./rpc.js"
import { Users } from "./service.js"

export const UsersHandlers = HttpApiBuilder.group(VezaApi, "users", (handlers) =>
  Effect.gen(function* () {
    const users = yield* Users
    const { read: clientInfo } = yield* ClientInfoReader
    return handlers
      .handle("byId", ({ path }) => users.getPublic(path.id))
      .handle("byUsername", ({ path }) => users.getPublicByUsername(path.username))
      .handle("update", ({ path, payload, request }) =>
        Effect.flatMap(CurrentUser, (actor) => users.updateProfile(path.id, payload, actor, clientInfo(request.headers))).pipe(
          policyUse(canUpdate(path.id))
        )
      )
  })
)

export const UsersRpcHandlers = UsersRpcs.toLayer(
  Effect.gen(function* () {
    const users = yield* Users
    const { read: clientInfo } = yield* ClientInfoReader
    return {
      "users.get": ({ id }) => users.getPublic(id),
      "users.getByUsername": ({ username }) => users.getPublicByUsername(username),
      "users.update": ({ id, profile }, { headers }) =>
        Effect.flatMap(CurrentUser, (actor) => users.updateProfile(id, profile, actor, clientInfo(headers))).pipe(
          policyUse(canUpdate(id))
        )
    }
  })
)
