import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { Config, ConfigError, Data, Duration, Effect, Either, Option, Redacted } from "effect"

export type Role = "api" | "chat" | "stream"
const ALL_ROLES: ReadonlyArray<Role> = ["api", "chat", "stream"]

/** Start-up refused: the message is printed as one line and the process exits 1. */
export class StartupError extends Data.TaggedError("StartupError")<{ readonly message: string }> {}

export const commaList = (name: string) =>
  Config.string(name).pipe(
    Config.withDefault(""),
    Config.map((raw) => raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0))
  )

const roles = commaList("VEZA_ROLES").pipe(
  Config.mapOrFail((list) => {
    if (list.length === 0) return Either.right(ALL_ROLES)
    const unknown = list.filter((r) => !(ALL_ROLES as ReadonlyArray<string>).includes(r))
    return unknown.length > 0
      ? Either.left(ConfigError.InvalidData(["VEZA_ROLES"], `unknown role(s) ${unknown.join(", ")}; expected api, chat, stream`))
      : Either.right(Array.from(new Set(list)) as ReadonlyArray<Role>)
  })
)

/** An optional secret; set-but-empty counts as unset rather than as an empty secret. */
const optionalSecret = (name: string) =>
  Config.option(Config.redacted(name)).pipe(
    Config.map(Option.filter((value) => Redacted.value(value).trim().length > 0))
  )

export const positiveInt = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.withDefault(fallback),
    Config.validate({ message: `${name} must be a positive integer`, validation: (n) => n > 0 })
  )

export const nonNegativeInt = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.withDefault(fallback),
    Config.validate({ message: `${name} must be zero or a positive integer`, validation: (n) => n >= 0 })
  )

export const logLevelConfig = Config.literal("trace", "debug", "info", "warn", "error", "none")("LOG_LEVEL").pipe(
  Config.withDefault("info" as const)
)

/** Statements each pooled connection keeps prepared unless DB_PREPARED_STATEMENTS says otherwise (src/platform/database.ts). */
export const DEFAULT_DB_PREPARED_STATEMENTS = 200

const rawConfig = Config.all({
  appEnv: Config.literal("development", "test", "staging", "production")("APP_ENV").pipe(
    Config.withDefault("development" as const)
  ),
  host: Config.string("HOST").pipe(Config.withDefault("0.0.0.0")),
  // Config.port refuses 0, which here means "pick a free port" (tests, side-by-side runs).
  port: Config.integer("PORT").pipe(
    Config.withDefault(8080),
    Config.validate({ message: "PORT must be 0-65535", validation: (n) => n >= 0 && n <= 65535 })
  ),
  dataDir: Config.string("DATA_DIR").pipe(Config.withDefault("./data")),
  roles,
  databaseUrl: optionalSecret("DATABASE_URL"),
  dbPoolMax: positiveInt("DB_POOL_MAX", 10),
  dbConnectTimeoutMs: positiveInt("DB_CONNECT_TIMEOUT_MS", 5000),
  dbStatementTimeoutMs: positiveInt("DB_STATEMENT_TIMEOUT_MS", 15000),
  dbPreparedStatements: nonNegativeInt("DB_PREPARED_STATEMENTS", DEFAULT_DB_PREPARED_STATEMENTS),
  jwtSecret: optionalSecret("JWT_SECRET"),
  jwtIssuer: Config.string("JWT_ISSUER").pipe(Config.withDefault("veza-api")),
  jwtAudience: Config.string("JWT_AUDIENCE").pipe(Config.withDefault("veza-app")),
  accessTokenTtlSeconds: positiveInt("ACCESS_TOKEN_TTL_SECONDS", 900),
  refreshTokenTtlSeconds: positiveInt("REFRESH_TOKEN_TTL_SECONDS", 30 * 24 * 3600),
  corsAllowedOrigins: commaList("CORS_ALLOWED_ORIGINS"),
  publicUrl: Config.option(Config.string("PUBLIC_URL")).pipe(Config.map(Option.filter((url) => url.trim().length > 0))),
  smtpUrl: optionalSecret("SMTP_URL"),
  mailFrom: Config.string("MAIL_FROM").pipe(Config.withDefault("Veza <no-reply@veza.local>")),
  shutdownGraceMs: positiveInt("SHUTDOWN_GRACE_MS", 25000),
  maxJsonBodyBytes: positiveInt("MAX_JSON_BODY_BYTES", 1024 * 1024),
  requestTimeoutMs: positiveInt("REQUEST_TIMEOUT_MS", 30000),
  loginMaxPerAccount: positiveInt("LOGIN_MAX_ATTEMPTS_PER_ACCOUNT", 5),
  loginMaxPerIp: positiveInt("LOGIN_MAX_ATTEMPTS_PER_IP", 20),
  loginWindowSeconds: positiveInt("LOGIN_WINDOW_SECONDS", 900),
  securityRetentionDays: positiveInt("SECURITY_RETENTION_DAYS", 30),
  maintenanceIntervalMs: positiveInt("MAINTENANCE_INTERVAL_MS", 3600 * 1000),
  logLevel: logLevelConfig,
  accessLog: Config.boolean("ACCESS_LOG").pipe(Config.withDefault(true)),
  trustProxy: Config.boolean("TRUST_PROXY").pipe(Config.withDefault(false)),
  argon2MemoryKib: positiveInt("ARGON2_MEMORY_KIB", 19456),
  argon2TimeCost: positiveInt("ARGON2_TIME_COST", 2),
  readinessDelayMs: nonNegativeInt("SHUTDOWN_READINESS_DELAY_MS", 0)
})

export type AppSettings = Omit<Config.Config.Success<typeof rawConfig>, "jwtSecret"> & {
  readonly jwtSecret: Redacted.Redacted<string>
  readonly isProduction: boolean
  readonly shutdownGrace: Duration.Duration
}

const isExactOrigin = (candidate: string) => {
  if (candidate.includes("*")) return false
  try {
    return new URL(candidate).origin === candidate
  } catch {
    return false
  }
}

/**
 * Production refuses to start on settings that would make it insecure or
 * silently point at a throw-away database.
 */
const productionProblems = (c: Config.Config.Success<typeof rawConfig>): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const secret = Option.map(c.jwtSecret, Redacted.value)
  if (Option.isNone(secret) || secret.value.length < 32) problems.push("JWT_SECRET must be set to at least 32 characters")
  if (c.corsAllowedOrigins.length === 0) problems.push("CORS_ALLOWED_ORIGINS must list the allowed origins")
  // Origins are compared as exact strings: a pattern or a path would silently match nothing.
  const notOrigins = c.corsAllowedOrigins.filter((o) => !isExactOrigin(o))
  if (notOrigins.length > 0) {
    problems.push(`CORS_ALLOWED_ORIGINS must hold exact origins (scheme://host[:port]), not ${notOrigins.join(", ")}`)
  }
  if (Option.isNone(c.databaseUrl)) problems.push("DATABASE_URL must be set")
  return problems
}

/**
 * Outside production a missing JWT secret is generated once and kept under
 * DATA_DIR, so tokens survive restarts of a development machine.
 */
const developmentSecret = (dataDir: string) =>
  Effect.try({
    try: () => {
      const file = NodePath.join(dataDir, "jwt-secret")
      if (NodeFs.existsSync(file)) {
        const existing = NodeFs.readFileSync(file, "utf8").trim()
        if (existing.length >= 32) return existing
      }
      NodeFs.mkdirSync(dataDir, { recursive: true })
      const secret = NodeCrypto.randomBytes(48).toString("base64url")
      NodeFs.writeFileSync(file, secret + "\n", { mode: 0o600 })
      return secret
    },
    catch: (e) => new StartupError({ message: `cannot persist the development JWT secret under ${dataDir}: ${String(e)}` })
  })

export class AppConfig extends Effect.Service<AppConfig>()("veza/AppConfig", {
  effect: Effect.gen(function* () {
    const c = yield* rawConfig.pipe(
      Effect.mapError((e) => new StartupError({ message: `configuration error: ${oneLine(String(e))}` }))
    )
    const isProduction = c.appEnv === "production"
    if (isProduction) {
      const problems = productionProblems(c)
      if (problems.length > 0) {
        return yield* new StartupError({ message: `refusing to start in production: ${problems.join("; ")}` })
      }
    }
    const jwtSecret = Option.isSome(c.jwtSecret)
      ? c.jwtSecret.value
      : Redacted.make(yield* developmentSecret(c.dataDir))
    if (Redacted.value(jwtSecret).length < 32) {
      yield* Effect.logWarning("JWT_SECRET is shorter than 32 characters; production would refuse it")
    }
    if (isProduction && Option.isNone(c.publicUrl)) {
      yield* Effect.logWarning("PUBLIC_URL is not set: links in verification and reset mails point at localhost")
    }
    if (isProduction && Option.isNone(c.smtpUrl)) {
      yield* Effect.logWarning("SMTP_URL is not set: mails are only written to the email_outbox table")
    }
    const settings: AppSettings = {
      ...c,
      jwtSecret,
      isProduction,
      shutdownGrace: Duration.millis(c.shutdownGraceMs)
    }
    return settings
  })
}) {}

export const oneLine = (s: string) => s.replace(/\s+/g, " ").trim()
