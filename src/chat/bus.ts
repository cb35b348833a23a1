import * as NodeCrypto from "node:crypto"
import * as NodeOs from "node:os"
import { Config, Context, Effect, Layer, Option, Redacted, type Scope } from "effect"
import { Redis } from "ioredis"
import { Readiness } from "../platform/readiness.js"
import type { ChatEvent } from "./events.js"


/**
 * How chat events reach every chat node: Redis pub/sub when REDIS_URL is
 * set, otherwise only this process. This node's own listeners get an event
 * at once, without a round trip through Redis, so local delivery goes on
 * while Redis is away (readiness reports it; clients on other nodes recover
 * what they missed with since_seq).
 */
export interface ChatBusService {
  readonly backend: "memory" | "redis"
  /** This process's name among chat nodes. */
  readonly node: string
  readonly publish: (event: ChatEvent) => Effect.Effect<void>
  /** Registers a listener for the life of the current scope. */
  readonly listen: (listener: (event: ChatEvent) => void) => Effect.Effect<void, never, Scope.Scope>
}

export class ChatBus extends Context.Tag("veza/ChatBus")<ChatBus, ChatBusService>() {}

const listenersSet = () => {
  const listeners = new Set<(event: ChatEvent) => void>()
  const emit = (event: ChatEvent) => {
    for (const listener of listeners) listener(event)
  }
  const listen = (listener: (event: ChatEvent) => void) =>
    Effect.acquireRelease(
      Effect.sync(() => listeners.add(listener)),
      () => Effect.sync(() => listeners.delete(listener))
    ).pipe(Effect.asVoid)
  return { emit, listen }
}

const memoryBus = (node: string) =>
  Effect.sync((): ChatBusService => {
    const { emit, listen } = listenersSet()
    return { backend: "memory", node, publish: (event) => Effect.sync(() => emit(event)), listen }
  })

/** Two connections (a subscriber cannot publish); each event carries its origin so a node skips its own. */
const redisBus = (url: Redacted.Redacted<string>, channel: string, node: string) =>
  Effect.gen(function* () {
    const readiness = yield* Readiness
    const options = { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true, retryStrategy: (times: number) => Math.min(100 * times, 2000) }
    const connect = (name: string) =>
      Effect.acquireRelease(
        Effect.tryPromise({
          try: async () => {
            const client = new Redis(Redacted.value(url), { ...options, connectionName: name })
            client.on("error", () => {})
            await client.connect()
            return client
          },
          catch: (e) => new Error(`cannot connect to Redis at REDIS_URL: ${e instanceof Error ? e.message : String(e)}`)
        }),
        (client) => Effect.promise(() => client.quit().catch(() => client.disconnect()))
      )
    const publisher = yield* connect("veza-chat-pub")
    const subscriber = yield* connect("veza-chat-sub")
    const { emit, listen } = listenersSet()
    subscriber.on("message", (_channel: string, text: string) => {
      let envelope: { readonly origin: string; readonly event: ChatEvent }
      try {
        envelope = JSON.parse(text)
      } catch {
        return
      }
      if (envelope.origin !== node) emit(envelope.event)
    })
    yield* Effect.promise(() => subscriber.subscribe(channel))
    yield* readiness.register(
      "redis",
      Effect.tryPromise(() => publisher.ping()).pipe(Effect.timeout("2 seconds"), Effect.asVoid)
    )
    const publish = (event: ChatEvent) =>
      Effect.suspend(() => {
        emit(event)
        return Effect.tryPromise(() => publisher.publish(channel, JSON.stringify({ origin: node, event }))).pipe(
          Effect.tapError((e) => Effect.logWarning("chat event not sent to other nodes: Redis unavailable", e)),
          Effect.ignore
        )
      })
    return { backend: "redis", node, publish, listen } satisfies ChatBusService
  })

export const ChatBusLive = Layer.scoped(
  ChatBus,
  Effect.gen(function* () {
    const url = yield* Config.option(Config.redacted("REDIS_URL"))
    // Several deployments (or test runs) can share one Redis: pub/sub ignores database numbers.
    const prefix = yield* Config.string("REDIS_KEY_PREFIX").pipe(Config.withDefault("veza:"))
    const node = `${NodeOs.hostname()}:${process.pid}:${NodeCrypto.randomBytes(4).toString("hex")}`
    return Option.isSome(url) && Redacted.value(url.value).trim() !== "" ? yield* redisBus(url.value, `${prefix}chat`, node) : yield* memoryBus(node)
  })
)
