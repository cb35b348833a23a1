import { Rpc, RpcGroup, RpcMiddleware } from "@effect/rpc"
import { Schema } from "effect"
import { BadRequest, Conflict, Forbidden, ServiceUnavailable, TooManyRequests, Unauthorized } from "../platform/api-errors.js"
import { Me, Username } from "../users/schema.js"
import {
  AuthSession,
  EmailRequest,
  LoginRequest,
  RefreshRequest,
  RegisterRequest,
  ResetPasswordRequest,
  UsernameAvailability,
  VerifyEmailRequest
} from "./api.js"
import { CurrentUser } from "./current-user.js"

/** `Authorization: Bearer` on the RPC request → CurrentUser. */
export class RpcAuthentication extends RpcMiddleware.Tag<RpcAuthentication>()("veza/RpcAuthentication", {
  failure: Schema.Union(Unauthorized, ServiceUnavailable),
  provides: CurrentUser
}) {}

export class AuthRpcs extends RpcGroup.make(
  Rpc.make("auth.register", { payload: RegisterRequest, success: AuthSession, error: Schema.Union(Conflict, ServiceUnavailable) }),
  Rpc.make("auth.login", { payload: LoginRequest, success: AuthSession, error: Schema.Union(Unauthorized, Forbidden, TooManyRequests, ServiceUnavailable) }),
  Rpc.make("auth.refresh", { payload: RefreshRequest, success: AuthSession, error: Schema.Union(Unauthorized, ServiceUnavailable) }),
  Rpc.make("auth.logout", { payload: RefreshRequest, error: ServiceUnavailable }),
  Rpc.make("auth.logoutAll", { error: ServiceUnavailable }).middleware(RpcAuthentication),
  Rpc.make("auth.me", { success: Me, error: Schema.Union(Unauthorized, ServiceUnavailable) }).middleware(RpcAuthentication),
  Rpc.make("auth.checkUsername", { payload: { username: Username }, success: UsernameAvailability, error: ServiceUnavailable }),
  Rpc.make("auth.verifyEmail", { payload: VerifyEmailRequest, error: Schema.Union(BadRequest, ServiceUnavailable) }),
  Rpc.make("auth.resendVerification", { payload: EmailRequest, error: ServiceUnavailable }),
  Rpc.make("auth.requestPasswordReset", { payload: EmailRequest, error: ServiceUnavailable }),
  Rpc.make("auth.resetPassword", { payload: ResetPasswordRequest, error: Schema.Union(BadRequest, ServiceUnavailable) })
) {}
