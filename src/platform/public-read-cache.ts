import { HttpServerResponse } from "@effect/platform"
import { Config, Effect } from "effect"
import type { Schema } from "effect"
import { nonNegativeInt, oneLine, positiveInt, StartupError } from "./config.js"
import { encodedJson } from "./encoded-json.js"

const MAX_TTL_MS = 5_000

const cacheConfig = Config.all({
  ttlMs: nonNegativeInt("PUBLIC_READ_CACHE_MS", 1_000).pipe(
    Config.validate({ message: `PUBLIC_READ_CACHE_MS must be at most ${MAX_TTL_MS}`, validation: (n) => n <= MAX_TTL_MS })
  ),
  maxBytes: positiveInt("PUBLIC_READ_CACHE_MAX_BYTES", 16 * 1024 * 1024)
})

interface Entry {
  readonly body: Uint8Array
  readonly size: number
  readonly expires: number
}

const encoder = new TextEncoder()

/**
 * Answers of the hot anonymous reads (a track, a list page, a track search),
 * kept as the bytes sent for PUBLIC_READ_CACHE_MS. Without a token every
 * caller sees the same answer, so the key is the endpoint and its decoded
 * parameters; calls with a token never come here (their answers differ per
 * caller: own private tracks, `liked_by_me`).
 *
 * Every write on this node that could change such an answer calls
 * `invalidate`, which drops everything: those writes (track edits, likes,
 * comments, publications…) are rare next to reads, and a finer key would have
 * to know which pages hold which track. Another node's writes are seen once
 * the entry expires, as are rows changed outside the application; plays move
 * `play_count` too often to invalidate on, so it may be that old.
 *
 * A read that was in flight when `invalidate` ran does not store its answer
 * (it may have been read before the write committed): `generation` tells.
 * Entries all live equally long, so the Map's insertion order is also their
 * expiry order, and the oldest are dropped first when the byte budget is full.
 */
export class PublicReadCache extends Effect.Service<PublicReadCache>()("veza/PublicReadCache", {
  effect: Effect.gen(function* () {
    const { ttlMs, maxBytes } = yield* cacheConfig.pipe(
      Effect.mapError((e) => new StartupError({ message: `configuration error: ${oneLine(String(e))}` }))
    )
    const entries = new Map<string, Entry>()
    let bytes = 0
    let generation = 0

    const drop = (key: string, entry: Entry) => {
      entries.delete(key)
      bytes -= entry.size
    }

    const store = (key: string, body: Uint8Array, now: number) => {
      const size = body.byteLength + key.length * 2
      if (size > maxBytes) return
      const previous = entries.get(key)
      if (previous !== undefined) drop(key, previous)
      for (const [k, e] of entries) {
        if (bytes + size <= maxBytes && e.expires > now) break
        drop(k, e)
      }
      entries.set(key, { body, size, expires: now + ttlMs })
      bytes += size
    }

    const respond = (body: Uint8Array) => HttpServerResponse.uint8Array(body, { contentType: "application/json" })

    /**
     * `read`'s JSON text, from the cache when `anonymous` (no Authorization
     * header) and a fresh entry exists; for a read written as JSON text
     * already (by PostgreSQL), which the endpoint's schema must describe.
     */
    const text = <E, R>(anonymous: boolean, key: string, read: Effect.Effect<string, E, R>): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R> =>
      ttlMs === 0 || !anonymous
        ? Effect.map(read, (text) => HttpServerResponse.text(text, { contentType: "application/json" }))
        : Effect.suspend(() => {
            const hit = entries.get(key)
            if (hit !== undefined && hit.expires > Date.now()) return Effect.succeed(respond(hit.body))
            const started = generation
            return Effect.map(read, (text) => {
              const body = encoder.encode(text)
              if (generation === started) store(key, body, Date.now())
              return respond(body)
            })
          })

    /**
     * The JSON answer of `read`, cached as `text`'s is. The value must already
     * be in `schema`'s encoded shape (see `encodedJson`, which answers
     * uncached calls): the cached bytes are the same `JSON.stringify`.
     */
    const json = <A, I>(schema: Schema.Schema<A, I>) => {
      const uncached = encodedJson(schema)
      return <E, R>(anonymous: boolean, key: string, read: Effect.Effect<A, E, R>): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R> =>
        ttlMs === 0 || !anonymous ? Effect.map(read, uncached) : text(anonymous, key, Effect.map(read, JSON.stringify))
    }

    /** Called after a write that may change an anonymous read has committed. */
    const invalidate = Effect.sync(() => {
      generation++
      entries.clear()
      bytes = 0
    })

    return { json, text, invalidate } as const
  })
}) {}
