import { HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSchema, HttpApiSecurity } from "@effect/platform"
import { Schema } from "effect"
import { BadRequest, Conflict, Forbidden, ServiceUnavailable, TooManyRequests, Unauthorized } from "../platform/api-errors.js"
import { Email, Me, Username } from "../users/schema.js"
import { CurrentUser } from "./current-user.js"

/** Bearer access token → CurrentUser; stale `token_version` or a disabled account is 401. */
export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("veza/Authentication", {
  failure: Schema.Union(Unauthorized.envelope, ServiceUnavailable.envelope),
  provides: CurrentUser,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

// argon2 work grows with input; 256 characters is far above any real passphrase.
export const Password = Schema.String.pipe(
  Schema.minLength(8, { message: () => "password must be at least 8 characters" }),
  Schema.maxLength(256, { message: () => "password must be at most 256 characters" })
)

export const AccountType = Schema.Literal("listener", "creator", "artist", "producer", "label")

export const RegisterRequest = Schema.Struct({
  email: Email,
  username: Username,
  password: Password,
  account_type: Schema.optional(AccountType)
}).annotations({ identifier: "RegisterRequest" })
export type RegisterRequest = typeof RegisterRequest.Type

export const LoginRequest = Schema.Struct({
  email: Email,
  password: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256))
}).annotations({ identifier: "LoginRequest" })
export type LoginRequest = typeof LoginRequest.Type

const OpaqueToken = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(512))

export const RefreshRequest = Schema.Struct({ refresh_token: OpaqueToken }).annotations({ identifier: "RefreshRequest" })
export type RefreshRequest = typeof RefreshRequest.Type

export class AuthSession extends Schema.Class<AuthSession>("AuthSession")({
  user: Me,
  access_token: Schema.String,
  refresh_token: Schema.String,
  token_type: Schema.Literal("Bearer"),
  expires_in: Schema.Int
}) {}

export class UsernameAvailability extends Schema.Class<UsernameAvailability>("UsernameAvailability")({
  username: Schema.String,
  available: Schema.Boolean
}) {}

/** Asking for a mail: the answer is 202 whether or not the address has an account. */
export const EmailRequest = Schema.Struct({ email: Email })
export const VerifyEmailRequest = Schema.Struct({ token: OpaqueToken })
export const ResetPasswordRequest = Schema.Struct({ token: OpaqueToken, password: Password })

const Accepted = HttpApiSchema.NoContent.annotations(HttpApiSchema.annotations({ status: 202 }))

export class AuthApi extends HttpApiGroup.make("auth")
  .add(
    HttpApiEndpoint.post("register", "/auth/register")
      .setPayload(RegisterRequest)
      .addSuccess(AuthSession, { status: 201 })
      .addError(Conflict.envelope)
  )
  .add(
    HttpApiEndpoint.post("login", "/auth/login")
      .setPayload(LoginRequest)
      .addSuccess(AuthSession)
      .addError(Unauthorized.envelope)
      .addError(Forbidden.envelope)
      .addError(TooManyRequests.envelope)
  )
  .add(
    HttpApiEndpoint.post("refresh", "/auth/refresh")
      .setPayload(RefreshRequest)
      .addSuccess(AuthSession)
      .addError(Unauthorized.envelope)
  )
  .add(HttpApiEndpoint.post("logout", "/auth/logout").setPayload(RefreshRequest).addSuccess(HttpApiSchema.NoContent))
  .add(HttpApiEndpoint.post("logoutAll", "/auth/logout-all").addSuccess(HttpApiSchema.NoContent).middleware(Authentication))
  .add(HttpApiEndpoint.get("me", "/auth/me").addSuccess(Me).middleware(Authentication))
  .add(
    HttpApiEndpoint.get("checkUsername", "/auth/check-username")
      .setUrlParams(Schema.Struct({ username: Username }))
      .addSuccess(UsernameAvailability)
  )
  .add(
    HttpApiEndpoint.post("verifyEmail", "/auth/verify-email")
      .setPayload(VerifyEmailRequest)
      .addSuccess(HttpApiSchema.NoContent)
      .addError(BadRequest.envelope)
  )
  .add(
    HttpApiEndpoint.post("resendVerification", "/auth/resend-verification")
      .setPayload(EmailRequest)
      .addSuccess(Accepted)
  )
  .add(
    HttpApiEndpoint.post("requestPasswordReset", "/auth/password/reset-request")
      .setPayload(EmailRequest)
      .addSuccess(Accepted)
  )
  .add(
    HttpApiEndpoint.post("resetPassword", "/auth/password/reset")
      .setPayload(ResetPasswordRequest)
      .addSuccess(HttpApiSchema.NoContent)
      .addError(BadRequest.envelope)
  )
  .addError(ServiceUnavailable.envelope) {}
