import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Option } from "effect"
import { AuditLog } from "../audit/service.js"
import { ChatBus } from "../chat/bus.js"
import { BadRequest, Conflict, Forbidden, TooManyRequests, Unauthorized } from "../platform/api-errors.js"
import type { ClientInfo } from "../platform/client-info.js"
import { AppConfig } from "../platform/config.js"
import { Mailer } from "../platform/mailer.js"
import { Metrics } from "../platform/metrics.js"
import { sqlErrors, uniqueViolation } from "../platform/sql-errors.js"
import type { UserId, UserRole } from "../users/schema.js"
import { Users } from "../users/service.js"
import { AuthSession, type LoginRequest, type RegisterRequest } from "./api.js"
import { Passwords } from "./passwords.js"
import { AuthRepo, type LoginFailure } from "./repo.js"
import { AccessTokens, opaqueToken, tokenDigest } from "./tokens.js"

const VERIFY_TTL_SECONDS = 48 * 3600
const RESET_TTL_SECONDS = 3600
// One mail per address per minute: enough for a lost message, useless for flooding an inbox.
const MAIL_THROTTLE_SECONDS = 60

const invalidCredentials = () => Unauthorized.of("email or password is incorrect", "INVALID_CREDENTIALS")
const invalidRefresh = (code = "INVALID_REFRESH_TOKEN", message = "refresh token is invalid or expired") =>
  Unauthorized.of(message, code)

const roleFor = (accountType: RegisterRequest["account_type"]): UserRole =>
  accountType === undefined || accountType === "listener" ? "user" : accountType

export class Auth extends Effect.Service<Auth>()("veza/Auth", {
  effect: Effect.gen(function* () {
    const config = yield* AppConfig
    const repo = yield* AuthRepo
    const users = yield* Users
    const passwords = yield* Passwords
    const tokens = yield* AccessTokens
    const mailer = yield* Mailer
    const audit = yield* AuditLog
    const metrics = yield* Metrics
    const chatBus = yield* ChatBus
    const registered = metrics.counter("veza_users_registered_total", "Accounts registered", ["role"])
    const loginAttempts = metrics.counter("veza_auth_login_attempts_total", "Login attempts by result", ["result"])
    const refreshes = metrics.counter("veza_auth_token_refreshes_total", "Refresh-token rotations by result", ["result"])
    const publicUrl = Option.getOrElse(config.publicUrl, () => `http://localhost:${config.port === 0 ? 8080 : config.port}`).replace(/\/$/, "")

    /** A new login session: a refresh-token family with its first token, plus an access token. */
    const startSession = (userId: UserId, client: ClientInfo) =>
      Effect.gen(function* () {
        const refreshToken = opaqueToken()
        yield* repo.withTransaction(
          Effect.flatMap(repo.createFamily(userId, client.ip, client.userAgent), (familyId) =>
            repo.insertRefreshToken(familyId, userId, tokenDigest(refreshToken), config.refreshTokenTtlSeconds)
          )
        )
        return yield* sessionFor(userId, refreshToken)
      })

    const sessionFor = (userId: UserId, refreshToken: string) =>
      Effect.gen(function* () {
        // The account was just authenticated; its disappearance now is a bug, not an input.
        const user = yield* users.getMe(userId).pipe(Effect.catchTag("NotFound", Effect.die))
        const credentials = yield* repo.credentialsById(userId)
        const version = Option.match(credentials, { onNone: () => 0, onSome: (c) => c.token_version })
        const accessToken = yield* tokens.issue({ sub: userId, role: user.role, token_version: version })
        return new AuthSession({
          user,
          access_token: accessToken,
          refresh_token: refreshToken,
          token_type: "Bearer",
          expires_in: tokens.ttlSeconds
        })
      })

    /** Records a one-time link and its mail; the returned effect sends it (run it after commit). */
    const prepareOneTimeLink = (kind: "verify" | "reset", userId: UserId, email: string) =>
      Effect.gen(function* () {
        if (yield* repo.issuedRecently(kind, userId, MAIL_THROTTLE_SECONDS)) return Effect.void
        const token = opaqueToken()
        const ttl = kind === "verify" ? VERIFY_TTL_SECONDS : RESET_TTL_SECONDS
        yield* repo.createOneTimeToken(kind, userId, email, tokenDigest(token), ttl)
        const content =
          kind === "verify"
            ? {
                template: "verify_email" as const,
                subject: "Confirm your Veza email address",
                text: `Welcome to Veza! Confirm your address within 48 hours:\n${publicUrl}/verify-email?token=${token}\n`
              }
            : {
                template: "password_reset" as const,
                subject: "Reset your Veza password",
                text: `Someone asked to reset your Veza password. If it was you, open within one hour:\n${publicUrl}/reset-password?token=${token}\nOtherwise ignore this message.\n`
              }
        return yield* mailer.record({ to: email, userId, secrets: [token], ...content })
      })

    const sendOneTimeLink = (kind: "verify" | "reset", userId: UserId, email: string) =>
      Effect.flatten(prepareOneTimeLink(kind, userId, email))

    const register = (req: RegisterRequest, client: ClientInfo) =>
      Effect.gen(function* () {
        if (yield* repo.usernameTaken(req.username)) {
          return yield* Conflict.of("username is already taken", "USERNAME_TAKEN")
        }
        const passwordHash = yield* passwords.hash(req.password)
        const role = roleFor(req.account_type)
        // Account, verification link and first session commit together: a failure
        // leaves nothing behind, so the client's retry is not told EMAIL_TAKEN.
        const { session, sendVerification } = yield* repo
          .withTransaction(
            Effect.gen(function* () {
              const id = yield* repo.insertUser({ email: req.email, username: req.username, passwordHash, role })
              yield* audit.record({ actorId: id, action: "auth.register", targetType: "user", targetId: id, ...client, metadata: { role } })
              const sendVerification = yield* prepareOneTimeLink("verify", id, req.email)
              return { session: yield* startSession(id, client), sendVerification }
            })
          )
          .pipe(
            Effect.catchTag("SqlError", (e) =>
              Option.match(uniqueViolation(e), {
                onNone: () => Effect.fail<SqlError | Conflict>(e),
                onSome: (constraint) =>
                  Effect.fail(
                    constraint.includes("email")
                      ? Conflict.of("an account with this email already exists", "EMAIL_TAKEN")
                      : Conflict.of("username is already taken", "USERNAME_TAKEN")
                  )
              })
            )
          )
        registered.inc({ role })
        yield* sendVerification
        return session
      }).pipe(sqlErrors)

    /**
     * Too many recent failures for this account or this address → 429 with
     * when to retry; otherwise the attempt is opened (counted as a failure
     * until settled). Check and count happen under per-account and
     * per-address locks, so a burst of parallel guesses cannot all pass.
     */
    const admitLogin = (identifier: string, client: ClientInfo) =>
      Effect.gen(function* () {
        yield* repo.lockLoginKeys(identifier, client.ip)
        const f = yield* repo.recentFailures(identifier, client.ip, config.loginWindowSeconds)
        const retryAfter = (oldest: Date | null) =>
          Math.max(1, Math.ceil(((oldest?.getTime() ?? Date.now()) + config.loginWindowSeconds * 1000 - Date.now()) / 1000))
        const limited =
          f.account_failures >= config.loginMaxPerAccount
            ? Option.some(retryAfter(f.account_oldest))
            : f.ip_failures >= config.loginMaxPerIp
              ? Option.some(retryAfter(f.ip_oldest))
              : Option.none()
        if (Option.isSome(limited)) {
          loginAttempts.inc({ result: "rate_limited" })
          return yield* TooManyRequests.of("too many failed login attempts, try again later", "TOO_MANY_ATTEMPTS", {
            retry_after_seconds: limited.value
          })
        }
        return yield* repo.openAttempt(identifier, client.ip, client.userAgent)
      }).pipe(repo.withTransaction)

    const login = (req: LoginRequest, client: ClientInfo) =>
      Effect.gen(function* () {
        const attempt = yield* admitLogin(req.email, client)
        const credentials = Option.getOrNull(yield* repo.credentialsByEmail(req.email))
        const ok = yield* passwords.verify(credentials?.password_hash ?? null, req.password)
        const fail = (reason: LoginFailure) =>
          Effect.zipRight(
            repo.settleAttempt(attempt, { userId: credentials?.id ?? null, success: false, reason }),
            Effect.sync(() => loginAttempts.inc({ result: reason }))
          )
        if (credentials === null || !ok) {
          yield* fail(credentials === null ? "unknown_account" : "invalid_password")
          return yield* invalidCredentials()
        }
        if (credentials.is_banned || !credentials.is_active) {
          yield* fail("account_disabled")
          return yield* Forbidden.of("this account is disabled", "ACCOUNT_DISABLED")
        }
        yield* repo.withTransaction(
          Effect.all([
            repo.settleAttempt(attempt, { userId: credentials.id, success: true, reason: null }),
            repo.recordLogin(credentials.id, client.ip),
            audit.record({ actorId: credentials.id, action: "auth.login", targetType: "user", targetId: credentials.id, ...client })
          ])
        )
        loginAttempts.inc({ result: "success" })
        return yield* startSession(credentials.id, client)
      }).pipe(sqlErrors)

    type RefreshOutcome =
      | { readonly _tag: "Rotated"; readonly session: AuthSession }
      | { readonly _tag: "Rejected"; readonly error: Unauthorized }

    /**
     * Rotation: the presented token is spent and a new one joins its family.
     * Presenting a spent token means it leaked (or a client raced itself):
     * the whole family is revoked, so neither holder keeps a session.
     */
    const refresh = (presented: string, client: ClientInfo) =>
      Effect.gen(function* () {
        const outcome = yield* repo.withTransaction(
          Effect.gen(function* () {
            const found = yield* repo.lockRefreshToken(tokenDigest(presented))
            const reject = (error: Unauthorized): RefreshOutcome => ({ _tag: "Rejected", error })
            if (Option.isNone(found)) return reject(invalidRefresh())
            const t = found.value
            if (t.family_revoked) return reject(invalidRefresh("REFRESH_TOKEN_REVOKED", "this session was signed out"))
            if (t.rotated) {
              yield* repo.revokeFamily(t.family_id, "reuse_detected")
              yield* audit.record({ actorId: t.user_id, action: "auth.refresh_token_reuse", targetType: "refresh_token_family", targetId: t.family_id, ...client })
              return reject(invalidRefresh("REFRESH_TOKEN_REUSED", "this refresh token was already used; the session has been revoked"))
            }
            if (t.expired) return reject(invalidRefresh("REFRESH_TOKEN_EXPIRED", "refresh token expired"))
            const credentials = yield* repo.credentialsById(t.user_id)
            if (Option.isNone(credentials) || credentials.value.is_banned || !credentials.value.is_active) {
              return reject(invalidRefresh("ACCOUNT_DISABLED", "this account is disabled"))
            }
            const next = opaqueToken()
            yield* repo.markRotated(t.token_id, t.family_id)
            yield* repo.insertRefreshToken(t.family_id, t.user_id, tokenDigest(next), config.refreshTokenTtlSeconds)
            // Issued before commit, from this transaction's view: a logout-all committing
            // meanwhile waits on the family lock, then revokes what this issued.
            const session = yield* sessionFor(t.user_id, next)
            return { _tag: "Rotated", session } satisfies RefreshOutcome as RefreshOutcome
          })
        )
        refreshes.inc({ result: outcome._tag === "Rotated" ? "rotated" : outcome.error.code.toLowerCase() })
        if (outcome._tag === "Rejected") return yield* outcome.error
        return outcome.session
      }).pipe(sqlErrors)

    const logout = (presented: string, client: ClientInfo) =>
      Effect.gen(function* () {
        const found = yield* repo.lockRefreshToken(tokenDigest(presented))
        if (Option.isNone(found)) return
        yield* repo.revokeFamily(found.value.family_id, "logout")
        yield* audit.record({ actorId: found.value.user_id, action: "auth.logout", targetType: "refresh_token_family", targetId: found.value.family_id, ...client })
      }).pipe(repo.withTransaction, sqlErrors)

    /** Every access token issued so far stops working, and every session ends. */
    const endSessions = (userId: UserId, reason: "logout_all" | "banned") =>
      Effect.all([repo.bumpTokenVersion(userId), repo.revokeAllFamilies(userId, reason)])

    /** Open chat connections were authenticated by now-dead tokens: every chat node closes the user's (4001). */
    const closeChatConnections = (userId: UserId) => chatBus.publish({ kind: "disconnect", user: userId, reason: "signed_out" })

    const logoutAll = (userId: UserId, client: ClientInfo) =>
      Effect.all([
        endSessions(userId, "logout_all"),
        audit.record({ actorId: userId, action: "auth.logout_all", targetType: "user", targetId: userId, ...client })
      ]).pipe(repo.withTransaction, Effect.zipRight(closeChatConnections(userId)), sqlErrors)

    /**
     * Bans (or lifts the ban on) an account; a ban also ends its sessions, so
     * tokens already handed out stop working at once. False when the account
     * was already in that state. The caller authorises and audits.
     */
    const setBanned = (userId: UserId, banned: boolean) =>
      Effect.gen(function* () {
        const changed = yield* repo.setBanned(userId, banned)
        if (changed && banned) yield* endSessions(userId, "banned")
        return changed
      }).pipe(repo.withTransaction, sqlErrors)

    /** For the admins' security views: where logins fail, and how many succeed and fail. */
    const failedLoginHotspots = (since: Date, min: number, limit: number) => repo.failedLoginHotspots(since, min, limit).pipe(sqlErrors)
    const loginAttemptCounts = (since: Date, until: Date) => repo.loginAttemptCounts(since, until).pipe(sqlErrors)

    /** The caller's own account; gone since its token was checked means the token no longer counts. */
    const me = (userId: UserId) =>
      users.getMe(userId).pipe(Effect.catchTag("NotFound", () => Unauthorized.of("account no longer exists", "INVALID_TOKEN")))

    const checkUsername = (username: string) =>
      repo.usernameTaken(username).pipe(Effect.map((taken) => ({ username, available: !taken })), sqlErrors)

    const verifyEmail = (token: string, client: ClientInfo) =>
      Effect.gen(function* () {
        const verified = yield* repo.consumeVerification(tokenDigest(token))
        if (Option.isNone(verified)) {
          return yield* BadRequest.of("verification link is invalid or expired", "INVALID_TOKEN")
        }
        yield* audit.record({ actorId: verified.value.user_id, action: "auth.email_verified", targetType: "user", targetId: verified.value.user_id, ...client })
      }).pipe(repo.withTransaction, sqlErrors)

    /** Answers the same whether or not the address has an account. */
    const resendVerification = (email: string) =>
      Effect.gen(function* () {
        const account = yield* repo.idByEmail(email)
        if (Option.isSome(account) && account.value.email_verified_at === null) {
          yield* sendOneTimeLink("verify", account.value.id, email)
        }
      }).pipe(sqlErrors)

    /** Answers the same whether or not the address has an account. */
    const requestPasswordReset = (email: string, client: ClientInfo) =>
      Effect.gen(function* () {
        const account = yield* repo.idByEmail(email)
        if (Option.isNone(account)) return
        yield* sendOneTimeLink("reset", account.value.id, email)
        yield* audit.record({ actorId: account.value.id, action: "auth.password_reset_requested", targetType: "user", targetId: account.value.id, ...client })
      }).pipe(sqlErrors)

    /** A new password also signs out every session and access token. */
    const resetPassword = (token: string, password: string, client: ClientInfo) =>
      Effect.gen(function* () {
        const invalid = BadRequest.of("reset link is invalid or expired", "INVALID_TOKEN")
        // Random tokens must not cost a password hash each.
        if (!(yield* repo.resetTokenUsable(tokenDigest(token)))) return yield* invalid
        const passwordHash = yield* passwords.hash(password)
        const userId = yield* repo.withTransaction(
          Effect.gen(function* () {
            const consumed = yield* repo.consumeReset(tokenDigest(token))
            if (Option.isNone(consumed)) return yield* invalid
            const userId = consumed.value.user_id
            yield* repo.setPassword(userId, passwordHash)
            yield* repo.revokeAllFamilies(userId, "password_reset")
            yield* audit.record({ actorId: userId, action: "auth.password_reset", targetType: "user", targetId: userId, ...client })
            return userId
          })
        )
        yield* closeChatConnections(userId)
      }).pipe(sqlErrors)

    return {
      register,
      login,
      refresh,
      logout,
      logoutAll,
      setBanned,
      failedLoginHotspots,
      loginAttemptCounts,
      me,
      checkUsername,
      verifyEmail,
      resendVerification,
      requestPasswordReset,
      resetPassword
    } as const
  }),
  dependencies: [AuthRepo.Default, Passwords.Default, AccessTokens.Default, AuditLog.Default]
}) {}
