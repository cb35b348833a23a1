import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import type { UserId, UserRole } from "../users/schema.js"
import { rowLimit } from "../platform/cursor.js"

export interface Credentials {
  readonly id: UserId
  readonly role: UserRole
  readonly password_hash: string | null
  readonly token_version: number
  readonly is_active: boolean
  readonly is_banned: boolean
}

export interface RefreshTokenRow {
  readonly token_id: string
  readonly family_id: string
  readonly user_id: UserId
  readonly expired: boolean
  readonly rotated: boolean
  readonly family_revoked: boolean
}

/** The values the migrations' CHECK constraints allow. */
export type RevokedReason = "logout" | "logout_all" | "reuse_detected" | "password_reset" | "banned"
export type LoginFailure = "unknown_account" | "invalid_password" | "account_disabled"

export interface NewUser {
  readonly email: string
  readonly username: string
  readonly passwordHash: string
  readonly role: UserRole
}

export class AuthRepo extends Effect.Service<AuthRepo>()("veza/AuthRepo", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const first = <A>(rows: ReadonlyArray<A>) => Option.fromNullable(rows[0])
    const credentialColumns = sql`id, role, password_hash, token_version, is_active, is_banned`

    const insertUser = (u: NewUser) =>
      Effect.flatMap(
        sql<{ id: UserId }>`insert into users (email, username, password_hash, role, last_password_change_at)
            values (${u.email}, ${u.username}, ${u.passwordHash}, ${u.role}, now()) returning id`,
        ([row]) => Effect.as(sql`insert into user_profiles (user_id) values (${row!.id})`, row!.id)
      )

    const credentialsByEmail = (email: string) =>
      sql<Credentials>`select ${credentialColumns} from users where email = ${email} and deleted_at is null`.pipe(Effect.map(first))
    const credentialsById = (id: string) =>
      sql<Credentials>`select ${credentialColumns} from users where id = ${id} and deleted_at is null`.pipe(Effect.map(first))
    const idByEmail = (email: string) =>
      sql<{ id: UserId; email_verified_at: Date | null }>`select id, email_verified_at from users where email = ${email} and deleted_at is null`.pipe(
        Effect.map(first)
      )
    const usernameTaken = (username: string) =>
      sql<{ taken: boolean }>`select exists(select 1 from users where lower(username) = lower(${username}) and deleted_at is null) as taken`.pipe(
        Effect.map((rows) => rows[0]?.taken === true)
      )

    const recordLogin = (id: UserId, ip: string) =>
      sql`update users set last_login_at = now(), login_count = login_count + 1, last_login_ip = ${ip}::inet where id = ${id}`

    /**
     * An attempt is recorded as a failure ("pending") before the password is
     * checked, so parallel guesses count against the limit immediately.
     */
    const openAttempt = (identifier: string, ip: string, userAgent: string | null) =>
      sql<{ id: string }>`insert into login_attempts (identifier, ip_address, success, failure_reason, user_agent)
          values (${identifier}, ${ip}::inet, false, 'pending', ${userAgent}) returning id`.pipe(Effect.map((rows) => rows[0]!.id))

    const settleAttempt = (id: string, outcome: { userId: UserId | null; success: boolean; reason: LoginFailure | null }) =>
      sql`update login_attempts set user_id = ${outcome.userId}, success = ${outcome.success}, failure_reason = ${outcome.reason}
          where id = ${id}`

    /**
     * Serialises limit checks for one account and for one address, across
     * requests and nodes, until the transaction ends. Always account first,
     * then address: no two transactions can wait on each other in a cycle.
     */
    const lockLoginKeys = (identifier: string, ip: string) =>
      Effect.zipRight(
        sql`select pg_advisory_xact_lock(hashtext(${"login:" + identifier}))`,
        sql`select pg_advisory_xact_lock(hashtext(${"login-ip:" + ip}))`
      )

    /**
     * Failures within the window: per account since its last success, per
     * address regardless (a valid login must not reset an attacker's count).
     * `oldest` tells when the window frees a slot, for Retry-After.
     */
    const recentFailures = (identifier: string, ip: string, windowSeconds: number) =>
      sql<{ account_failures: number; account_oldest: Date | null; ip_failures: number; ip_oldest: Date | null }>`
        with account as (
          select created_at from login_attempts
          where identifier = ${identifier} and not success
            and created_at > now() - make_interval(secs => ${windowSeconds})
            and created_at > coalesce((select max(created_at) from login_attempts
                                       where identifier = ${identifier} and success), '-infinity')
        ), address as (
          select created_at from login_attempts
          where ip_address = ${ip}::inet and not success
            and created_at > now() - make_interval(secs => ${windowSeconds})
        )
        select (select count(*)::int from account) as account_failures,
               (select min(created_at) from account) as account_oldest,
               (select count(*)::int from address) as ip_failures,
               (select min(created_at) from address) as ip_oldest`.pipe(Effect.map((rows) => rows[0]!))

    const createFamily = (userId: UserId, ip: string, userAgent: string | null) =>
      sql<{ id: string }>`insert into refresh_token_families (user_id, ip_address, user_agent, last_used_at)
          values (${userId}, ${ip}::inet, ${userAgent}, now()) returning id`.pipe(Effect.map((rows) => rows[0]!.id))

    const insertRefreshToken = (familyId: string, userId: UserId, digest: string, ttlSeconds: number) =>
      sql`insert into refresh_tokens (family_id, user_id, token_hash, expires_at)
          values (${familyId}, ${userId}, ${digest}, now() + make_interval(secs => ${ttlSeconds}))`

    /**
     * Locks the token and its family: concurrent refreshes of one token are
     * serialised, and so are a refresh and a revocation of its family.
     */
    const lockRefreshToken = (digest: string) =>
      sql<RefreshTokenRow>`
        select t.id as token_id, t.family_id, t.user_id, t.expires_at <= now() as expired,
               t.rotated_at is not null as rotated, f.revoked_at is not null as family_revoked
        from refresh_tokens t join refresh_token_families f on f.id = t.family_id
        where t.token_hash = ${digest}
        for update of t, f`.pipe(Effect.map(first))

    const markRotated = (tokenId: string, familyId: string) =>
      Effect.zipRight(
        sql`update refresh_tokens set rotated_at = now() where id = ${tokenId}`,
        sql`update refresh_token_families set last_used_at = now() where id = ${familyId}`
      )

    const revokeFamily = (familyId: string, reason: RevokedReason) =>
      sql`update refresh_token_families set revoked_at = now(), revoked_reason = ${reason}
          where id = ${familyId} and revoked_at is null`

    const revokeAllFamilies = (userId: UserId, reason: RevokedReason) =>
      sql`update refresh_token_families set revoked_at = now(), revoked_reason = ${reason}
          where user_id = ${userId} and revoked_at is null`

    /**
     * Where logins keep failing since `since`: addresses and accounts with at
     * least `min` failures (still-pending attempts count, as the limiter counts them).
     */
    const failedLoginHotspots = (since: Date, min: number, limit: number) =>
      Effect.all({
        byAddress: sql<{ ip_address: string; failures: number; accounts: number; last_attempt_at: Date }>`
          select host(ip_address) as ip_address, count(*)::int as failures, count(distinct identifier)::int as accounts,
                 max(created_at) as last_attempt_at
            from login_attempts where not success and created_at >= ${since}
           group by ip_address having count(*) >= ${min}
           order by failures desc, last_attempt_at desc limit ${rowLimit(limit)}`,
        byAccount: sql<{ identifier: string; user_id: UserId | null; failures: number; addresses: number; last_attempt_at: Date }>`
          select identifier, (array_agg(user_id) filter (where user_id is not null))[1] as user_id, count(*)::int as failures,
                 count(distinct ip_address)::int as addresses, max(created_at) as last_attempt_at
            from login_attempts where not success and created_at >= ${since}
           group by identifier having count(*) >= ${min}
           order by failures desc, last_attempt_at desc limit ${rowLimit(limit)}`
      })

    const loginAttemptCounts = (since: Date, until: Date) =>
      sql<{ succeeded: number; failed: number }>`
        select count(*) filter (where success)::int as succeeded, count(*) filter (where not success)::int as failed
          from login_attempts where created_at >= ${since} and created_at < ${until}`.pipe(Effect.map((rows) => rows[0] ?? { succeeded: 0, failed: 0 }))

    /** False when the account is gone or already in that state. */
    const setBanned = (userId: UserId, banned: boolean) =>
      sql.withTransaction(
        Effect.zipRight(
          // The ban's trigger (migration 0025) rewrites the user's tracks: they are locked first, as a write to a
          // track locks it before share-locking its creator (search keys, 0014), so neither waits on the other in turn.
          sql`select id from tracks where creator_id = ${userId} and deleted_at is null order by id for update`,
          sql`update users set is_banned = ${banned} where id = ${userId} and deleted_at is null and is_banned <> ${banned} returning id`
        )
      ).pipe(Effect.map((rows) => rows.length > 0))

    const bumpTokenVersion = (userId: UserId) =>
      sql`update users set token_version = token_version + 1 where id = ${userId}`

    const setPassword = (userId: UserId, passwordHash: string) =>
      sql`update users set password_hash = ${passwordHash}, last_password_change_at = now(),
                           token_version = token_version + 1 where id = ${userId}`

    const createOneTimeToken = (kind: "verify" | "reset", userId: UserId, email: string, digest: string, ttlSeconds: number) =>
      kind === "verify"
        ? sql`insert into email_verification_tokens (user_id, email, token_hash, expires_at)
              values (${userId}, ${email}, ${digest}, now() + make_interval(secs => ${ttlSeconds}))`
        : sql`insert into password_reset_tokens (user_id, token_hash, expires_at)
              values (${userId}, ${digest}, now() + make_interval(secs => ${ttlSeconds}))`

    /** Whether a token of this kind was issued to the user within the last `seconds`. */
    const issuedRecently = (kind: "verify" | "reset", userId: UserId, seconds: number) =>
      (kind === "verify"
        ? sql<{ recent: boolean }>`select exists(select 1 from email_verification_tokens where user_id = ${userId}
             and created_at > now() - make_interval(secs => ${seconds})) as recent`
        : sql<{ recent: boolean }>`select exists(select 1 from password_reset_tokens where user_id = ${userId}
             and created_at > now() - make_interval(secs => ${seconds})) as recent`
      ).pipe(Effect.map((rows) => rows[0]?.recent === true))

    /** Consumes a valid verification token; the address must still be the account's. */
    const consumeVerification = (digest: string) =>
      sql<{ user_id: UserId }>`
        with used as (
          update email_verification_tokens t set used_at = now()
          from users u
          where t.token_hash = ${digest} and t.used_at is null and t.expires_at > now()
            and u.id = t.user_id and u.email = t.email and u.deleted_at is null
          returning t.user_id
        )
        update users set email_verified_at = coalesce(email_verified_at, now())
        where id in (select user_id from used) returning id as user_id`.pipe(Effect.map(first))

    /** Whether a reset token is currently usable; checked before paying for a password hash. */
    const resetTokenUsable = (digest: string) =>
      sql<{ usable: boolean }>`select exists(select 1 from password_reset_tokens t join users u on u.id = t.user_id
          where t.token_hash = ${digest} and t.used_at is null and t.expires_at > now() and u.deleted_at is null) as usable`.pipe(
        Effect.map((rows) => rows[0]?.usable === true)
      )

    /** Consumes a valid reset token and every other outstanding one of that user. */
    const consumeReset = (digest: string) =>
      sql<{ user_id: UserId }>`
        with target as (
          select t.user_id from password_reset_tokens t join users u on u.id = t.user_id
          where t.token_hash = ${digest} and t.used_at is null and t.expires_at > now() and u.deleted_at is null
          for update of t
        )
        update password_reset_tokens set used_at = now()
        where user_id in (select user_id from target) and used_at is null
        returning user_id`.pipe(Effect.map(first))

    return {
      insertUser,
      credentialsByEmail,
      credentialsById,
      idByEmail,
      usernameTaken,
      recordLogin,
      openAttempt,
      settleAttempt,
      lockLoginKeys,
      recentFailures,
      createFamily,
      insertRefreshToken,
      lockRefreshToken,
      markRotated,
      revokeFamily,
      revokeAllFamilies,
      bumpTokenVersion,
      setBanned,
      failedLoginHotspots,
      loginAttemptCounts,
      setPassword,
      createOneTimeToken,
      issuedRecently,
      consumeVerification,
      consumeReset,
      resetTokenUsable,
      withTransaction: sql.withTransaction
    } as const
  })
}) {}
