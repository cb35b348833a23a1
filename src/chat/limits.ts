import { Config, Context, Effect, Layer, Option, Redacted, Runtime, Schedule } from "effect"
import { Redis } from "ioredis"
import type { UserId } from "../users/schema.js"
import { ChatConfig, type ChatSettings } from "./config.js"

/**
 * The per-user limits of the chat gateway: the connection cap and the token
 * bucket that every frame spends from. In process by default; with REDIS_URL
 * both are counted across every chat node, so a user with connections on two
 * nodes gets neither twice the rate nor twice the connections.
 */
export interface ChatLimitsService {
  readonly backend: "memory" | "redis"
  /** Counts a connection of the user; false when the user already has `CHAT_MAX_CONNS_PER_USER` of them. */
  readonly open: (user: UserId, connection: string) => Effect.Effect<boolean>
  readonly close: (user: UserId, connection: string) => Effect.Effect<void>
  /**
   * A gate that spends one of the user's tokens on each item, then calls
   * `admit(item)`, or `limited(item, retryAfterMs)` when the bucket is empty.
   * Without Redis the answer comes at once; with Redis it may come after a
   * round trip, but a user's items are answered in the order they came.
   */
  readonly gate: <A>(admit: (item: A) => void, limited: (item: A, retryAfterMs: number) => void) => (user: UserId, item: A) => void
  /** Users this node keeps a bucket for (those with a connection here): back to 0 when nobody is connected. */
  readonly localUsers: () => number
}

export class ChatLimits extends Context.Tag("veza/ChatLimits")<ChatLimits, ChatLimitsService>() {}

interface Bucket {
  tokens: number
  updatedAt: number
}

const fullBucket = (settings: ChatSettings): Bucket => ({ tokens: settings.rateBurst, updatedAt: Date.now() })

/** Takes a token from a local bucket: 0 when there was one, else the milliseconds until there is. */
const takeLocal = (bucket: Bucket, settings: ChatSettings): number => {
  const now = Date.now()
  bucket.tokens = Math.min(settings.rateBurst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * settings.ratePerSecond)
  bucket.updatedAt = now
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1
    return 0
  }
  return Math.ceil(((1 - bucket.tokens) / settings.ratePerSecond) * 1000)
}

/** Connections of a user on this node, and the bucket their frames share while they last. */
class LocalUsers<S extends { connections: number }> {
  private readonly users = new Map<UserId, S>()
  constructor(private readonly make: () => S) {}
  get(user: UserId): S | undefined {
    return this.users.get(user)
  }
  get size() {
    return this.users.size
  }
  opened(user: UserId) {
    const state = this.users.get(user) ?? this.make()
    state.connections++
    this.users.set(user, state)
  }
  closed(user: UserId) {
    const state = this.users.get(user)
    if (state !== undefined && --state.connections <= 0) this.users.delete(user)
  }
}

/** The hub already caps a user's connections on this node; here only the buckets live and die with them. */
const memoryLimits = (settings: ChatSettings): ChatLimitsService => {
  const users = new LocalUsers(() => ({ connections: 0, bucket: fullBucket(settings) }))
  return {
    backend: "memory",
    localUsers: () => users.size,
    open: (user) => Effect.sync(() => (users.opened(user), true)),
    close: (user) => Effect.sync(() => users.closed(user)),
    gate: (admit, limited) => (user, item) => {
      const state = users.get(user)
      const wait = state === undefined ? 0 : takeLocal(state.bucket, settings)
      if (wait === 0) admit(item)
      else limited(item, wait)
    }
  }
}

/**
 * Admits a connection if the user has fewer than ARGV[2] live ones across
 * nodes. Entries are scored by their expiry, which each node's refresh pushes
 * on, so a crashed node's connections stop counting after CONNECTION_TTL_MS.
 */
const OPEN_SCRIPT = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
`

/** Pushes on the expiry of a live connection, by Redis's clock as the cap's check is. */
const REFRESH_SCRIPT = `
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
`

/**
 * The token bucket of SPEC §5, shared by every node: takes up to ARGV[3]
 * tokens (rate ARGV[1]/s, burst ARGV[2]) and returns how many it granted and,
 * when short, the milliseconds until the next token. Redis's clock, so nodes'
 * clocks need not agree.
 */
const TAKE_SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local grant = math.min(want, math.floor(tokens))
tokens = tokens - grant
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
local wait = 0
if grant < want then wait = math.ceil((1 - tokens) / rate * 1000) end
return {grant, wait}
`

/** A connection stops counting this long after its node last refreshed it. */
const CONNECTION_TTL_MS = 30_000
const REFRESH_EVERY_MS = 10_000
/** After a failed call, limits stay local this long before Redis is tried again. */
const REDIS_RETRY_MS = 1_000

interface RedisUser {
  connections: number
  /** Used while Redis is away. */
  readonly bucket: Bucket
  /** Items waiting for the answer of the call in flight, or for the next call. */
  pending: Array<{ readonly item: unknown; readonly admit: (item: any) => void; readonly limited: (item: any, wait: number) => void }>
  inFlight: boolean
}

type LimitsRedis = Redis & {
  chatOpen(key: string, member: string, max: number, ttl: number): Promise<number>
  chatRefresh(key: string, member: string, ttl: number): Promise<number>
  chatTake(key: string, rate: number, burst: number, want: number): Promise<[number, number]>
}

/**
 * The rate limit asks Redis once per batch of frames rather than once per
 * frame: while a call is in flight, a user's further frames wait beside it and
 * the next call asks for all of them at once. So a flood costs one round trip
 * per round trip's worth of frames, and a quiet user one small script per
 * frame (a fraction of a millisecond on the same network), and no node holds
 * tokens another could have used: the global bucket's answer is exact.
 * Frames beyond a burst's worth waiting are refused at once, as the bucket
 * could not grant them anyway. When Redis fails, each node falls back to its
 * local bucket and cap (fail open) and tries Redis again a second later.
 */
const redisLimits = (url: Redacted.Redacted<string>, prefix: string, settings: ChatSettings) =>
  Effect.gen(function* () {
    const client = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const client = new Redis(Redacted.value(url), {
            maxRetriesPerRequest: 1,
            enableOfflineQueue: false,
            lazyConnect: true,
            commandTimeout: 500,
            connectionName: "veza-chat-limits",
            retryStrategy: (times: number) => Math.min(100 * times, 2000)
          })
          client.on("error", () => {})
          client.defineCommand("chatOpen", { numberOfKeys: 1, lua: OPEN_SCRIPT })
          client.defineCommand("chatRefresh", { numberOfKeys: 1, lua: REFRESH_SCRIPT })
          client.defineCommand("chatTake", { numberOfKeys: 1, lua: TAKE_SCRIPT })
          await client.connect()
          return client as LimitsRedis
        },
        catch: (e) => new Error(`cannot connect to Redis at REDIS_URL: ${e instanceof Error ? e.message : String(e)}`)
      }),
      (client) => Effect.promise(() => client.quit().catch(() => client.disconnect()))
    )
    const connectionsKey = (user: UserId) => `${prefix}chat:conns:${user}`
    const bucketKey = (user: UserId) => `${prefix}chat:rate:${user}`
    const users = new LocalUsers<RedisUser>(() => ({ connections: 0, bucket: fullBucket(settings), pending: [], inFlight: false }))
    /** This node's live connections, refreshed so that they keep counting. */
    const mine = new Map<string, UserId>()
    let redisDownUntil = 0
    const redisFailed = (what: string, e: unknown) => {
      const first = redisDownUntil < Date.now()
      redisDownUntil = Date.now() + REDIS_RETRY_MS
      return first ? Effect.logWarning(`chat limits are local to this node: Redis unavailable (${what})`, e) : Effect.void
    }

    const open = (user: UserId, connection: string) =>
      Effect.gen(function* () {
        const admitted =
          Date.now() < redisDownUntil
            ? true
            : yield* Effect.tryPromise(() => client.chatOpen(connectionsKey(user), connection, settings.maxConnectionsPerUser, CONNECTION_TTL_MS)).pipe(
                Effect.map((n) => n === 1),
                Effect.catchAll((e) => Effect.as(redisFailed("connection cap", e), true))
              )
        if (admitted) {
          mine.set(connection, user)
          users.opened(user)
        }
        return admitted
      })

    const close = (user: UserId, connection: string) =>
      Effect.suspend(() => {
        if (!mine.delete(connection)) return Effect.void
        users.closed(user)
        return Effect.tryPromise(() => client.zrem(connectionsKey(user), connection)).pipe(Effect.ignore)
      })

    // A connection counted while Redis was away is added back here, so the cap holds again once it returns.
    const refresh = Effect.suspend(() => {
      if (mine.size === 0) return Effect.void
      const pipeline = client.pipeline() as unknown as { chatRefresh(key: string, member: string, ttl: number): void; exec(): Promise<unknown> }
      for (const [connection, user] of mine) pipeline.chatRefresh(connectionsKey(user), connection, CONNECTION_TTL_MS)
      return Effect.tryPromise(() => pipeline.exec()).pipe(Effect.catchAll((e) => redisFailed("connection refresh", e)))
    })
    yield* Effect.forkScoped(Effect.repeat(refresh, Schedule.spaced(REFRESH_EVERY_MS)))

    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)
    const warn = (e: unknown) => runFork(redisFailed("rate limit", e))

    const settleLocally = (state: RedisUser) => {
      for (const entry of state.pending.splice(0)) {
        const wait = takeLocal(state.bucket, settings)
        if (wait === 0) entry.admit(entry.item)
        else entry.limited(entry.item, wait)
      }
    }

    const ask = (user: UserId, state: RedisUser) => {
      if (Date.now() < redisDownUntil) return settleLocally(state)
      const batch = state.pending.splice(0)
      state.inFlight = true
      client.chatTake(bucketKey(user), settings.ratePerSecond, settings.rateBurst, batch.length).then(
        ([granted, wait]) => {
          state.inFlight = false
          batch.forEach((entry, i) => (i < granted ? entry.admit(entry.item) : entry.limited(entry.item, wait)))
          if (state.pending.length > 0) ask(user, state)
        },
        (e) => {
          state.inFlight = false
          warn(e)
          state.pending.unshift(...batch)
          settleLocally(state)
        }
      )
    }

    const gate: ChatLimitsService["gate"] = (admit, limited) => (user, item) => {
      const state = users.get(user)
      if (state === undefined) return admit(item)
      if (Date.now() < redisDownUntil && state.pending.length === 0 && !state.inFlight) {
        const wait = takeLocal(state.bucket, settings)
        return wait === 0 ? admit(item) : limited(item, wait)
      }
      if (state.pending.length >= settings.rateBurst) return limited(item, Math.ceil(1000 / settings.ratePerSecond))
      state.pending.push({ item, admit, limited })
      if (!state.inFlight) ask(user, state)
    }

    return { backend: "redis", open, close, gate, localUsers: () => users.size } satisfies ChatLimitsService
  })

export const ChatLimitsLive = Layer.scoped(
  ChatLimits,
  Effect.gen(function* () {
    const settings = yield* ChatConfig
    const url = yield* Config.option(Config.redacted("REDIS_URL"))
    const prefix = yield* Config.string("REDIS_KEY_PREFIX").pipe(Config.withDefault("veza:"))
    return Option.isSome(url) && Redacted.value(url.value).trim() !== "" ? yield* redisLimits(url.value, prefix, settings) : memoryLimits(settings)
  })
)
