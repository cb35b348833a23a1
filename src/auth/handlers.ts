import { HttpApiBuilder, HttpServerRequest } from "@effect/platform"
import { Effect, Layer } from "effect"
import { VezaApi } from "../api.js"
import { Unauthorized } from "../platform/api-errors.js"
import { ClientInfoReader } from "../platform/client-info.js"
import { Authenticator, bearerToken } from "./authentication.js"
import { CurrentUser } from "./current-user.js"
import { AuthRpcs, RpcAuthentication } from "./rpc.js"
import { Auth } from "./service.js"

export const AuthHandlers = HttpApiBuilder.group(VezaApi, "auth", (handlers) =>
  Effect.gen(function* () {
    const auth = yield* Auth
    const clients = yield* ClientInfoReader
    const client = Effect.map(HttpServerRequest.HttpServerRequest, (request) => clients.read(request.headers))
    return handlers
      .handle("register", ({ payload }) => Effect.flatMap(client, (c) => auth.register(payload, c)))
      .handle("login", ({ payload }) => Effect.flatMap(client, (c) => auth.login(payload, c)))
      .handle("refresh", ({ payload }) => Effect.flatMap(client, (c) => auth.refresh(payload.refresh_token, c)))
      .handle("logout", ({ payload }) => Effect.flatMap(client, (c) => auth.logout(payload.refresh_token, c)))
      .handle("logoutAll", () => Effect.flatMap(Effect.zip(CurrentUser, client), ([me, c]) => auth.logoutAll(me.id, c)))
      .handle("me", () => Effect.flatMap(CurrentUser, (me) => auth.me(me.id)))
      .handle("checkUsername", ({ urlParams }) => auth.checkUsername(urlParams.username))
      .handle("verifyEmail", ({ payload }) => Effect.flatMap(client, (c) => auth.verifyEmail(payload.token, c)))
      .handle("resendVerification", ({ payload }) => auth.resendVerification(payload.email))
      .handle("requestPasswordReset", ({ payload }) => Effect.flatMap(client, (c) => auth.requestPasswordReset(payload.email, c)))
      .handle("resetPassword", ({ payload }) => Effect.flatMap(client, (c) => auth.resetPassword(payload.token, payload.password, c)))
  })
)

export const RpcAuthenticationLive = Layer.effect(
  RpcAuthentication,
  Effect.map(Authenticator, (authenticator) =>
    RpcAuthentication.of(({ headers }) => {
      const token = bearerToken(headers["authorization"])
      return token === undefined
        ? Effect.fail(Unauthorized.of("missing bearer access token", "INVALID_TOKEN"))
        : authenticator.authenticate(token)
    })
  )
)

export const AuthRpcHandlers = AuthRpcs.toLayer(
  Effect.gen(function* () {
    const auth = yield* Auth
    const { read: clientInfo } = yield* ClientInfoReader
    return {
      "auth.register": (payload, { headers }) => auth.register(payload, clientInfo(headers)),
      "auth.login": (payload, { headers }) => auth.login(payload, clientInfo(headers)),
      "auth.refresh": (payload, { headers }) => auth.refresh(payload.refresh_token, clientInfo(headers)),
      "auth.logout": (payload, { headers }) => auth.logout(payload.refresh_token, clientInfo(headers)),
      "auth.logoutAll": (_, { headers }) => Effect.flatMap(CurrentUser, (me) => auth.logoutAll(me.id, clientInfo(headers))),
      "auth.me": () => Effect.flatMap(CurrentUser, (me) => auth.me(me.id)),
      "auth.checkUsername": ({ username }) => auth.checkUsername(username),
      "auth.verifyEmail": ({ token }, { headers }) => auth.verifyEmail(token, clientInfo(headers)),
      "auth.resendVerification": ({ email }) => auth.resendVerification(email),
      "auth.requestPasswordReset": ({ email }, { headers }) => auth.requestPasswordReset(email, clientInfo(headers)),
      "auth.resetPassword": ({ token, password }, { headers }) => auth.resetPassword(token, password, clientInfo(headers))
    }
  })
)
