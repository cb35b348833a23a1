/**
 * Every REST call of the web client goes through the client derived from the
 * server's own HttpApi definition (`src/api.ts`), so paths, payloads and
 * response shapes are checked against the server at compile time. This module
 * adds the session: the bearer token on each request, one silent refresh on a
 * 401 (shared by concurrent callers), and errors turned into sentences.
 */
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Effect, Either, Schema } from "effect"
import { VezaApi } from "../../src/api.js"
import { Track } from "../../src/tracks/schema.js"

export interface Session {
  readonly accessToken: string
  readonly refreshToken: string
  readonly userId: string
  readonly username: string
  readonly role: string
}

const STORAGE_KEY = "veza.session"

const readStored = (): Session | null => {
  try {
    const raw = localStorage.getItem(STORAGE_KEY)
    return raw === null ? null : (JSON.parse(raw) as Session)
  } catch {
    return null
  }
}

let session: Session | null = readStored()
const sessionListeners = new Set<(s: Session | null) => void>()

export const currentSession = () => session

export const onSessionChange = (listener: (s: Session | null) => void) => {
  sessionListeners.add(listener)
  return () => void sessionListeners.delete(listener)
}

export const setSession = (next: Session | null) => {
  session = next
  if (next === null) localStorage.removeItem(STORAGE_KEY)
  else localStorage.setItem(STORAGE_KEY, JSON.stringify(next))
  for (const l of sessionListeners) l(next)
}

// Another tab signing in or out changes this one too.
window.addEventListener("storage", (event) => {
  if (event.key !== STORAGE_KEY) return
  session = readStored()
  for (const l of sessionListeners) l(session)
})

const withToken = HttpClient.mapRequest((request: HttpClientRequest.HttpClientRequest) =>
  session === null ? request : HttpClientRequest.bearerToken(request, session.accessToken)
)

export const client = Effect.runSync(
  HttpApiClient.make(VezaApi, { baseUrl: location.origin, transformClient: withToken }).pipe(Effect.provide(FetchHttpClient.layer))
)
export type Client = typeof client

/** What the UI shows when a call fails: the server's words, or what went wrong on the way. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number | undefined
  ) {
    super(message)
  }
}

const STATUS_BY_TAG: Record<string, number> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  Conflict: 409,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
  Unprocessable: 422,
  TooManyRequests: 429,
  ServiceUnavailable: 503
}

export const toApiError = (e: unknown): ApiError => {
  if (e instanceof ApiError) return e
  const tagged = e as { _tag?: string; code?: unknown; message?: unknown; reason?: unknown }
  if (typeof tagged._tag === "string" && typeof tagged.code === "string" && typeof tagged.message === "string") {
    return new ApiError(tagged.message, tagged.code, STATUS_BY_TAG[tagged._tag])
  }
  if (tagged._tag === "RequestError") return new ApiError("Could not reach the server. Check your connection, then retry.", "NETWORK", undefined)
  if (tagged._tag === "ResponseError") return new ApiError("The server answered in a way this page did not expect. Retry in a moment.", "BAD_RESPONSE", undefined)
  return new ApiError(e instanceof Error ? e.message : "Something went wrong. Retry in a moment.", "UNKNOWN", undefined)
}

let refreshing: Promise<boolean> | null = null

/** Rotates the refresh token once for every caller that saw the same 401. */
const refresh = (): Promise<boolean> => {
  const current = session
  if (current === null) return Promise.resolve(false)
  refreshing ??= Effect.runPromise(Effect.either(client.auth.refresh({ payload: { refresh_token: current.refreshToken } })))
    .then((result) => {
      if (Either.isLeft(result)) {
        // Another tab may have rotated it first; its new pair is in storage.
        const stored = readStored()
        if (stored !== null && stored.refreshToken !== current.refreshToken) {
          session = stored
          return true
        }
        setSession(null)
        return false
      }
      const s = result.right
      setSession({ accessToken: s.access_token, refreshToken: s.refresh_token, userId: s.user.id, username: s.user.username, role: s.user.role })
      return true
    })
    .finally(() => {
      refreshing = null
    })
  return refreshing
}

/** Whether the access token is past (or within 30 s of) its `exp`; one that cannot be read counts as expired. */
const expiresSoon = (token: string) => {
  try {
    const payload = JSON.parse(atob(token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))) as { exp?: unknown }
    return typeof payload.exp !== "number" || payload.exp * 1000 < Date.now() + 30_000
  } catch {
    return true
  }
}

/** Refreshes before a call rather than after its 401, so an expired token costs no failed request. */
const ensureFresh = async () => {
  if (session !== null && expiresSoon(session.accessToken)) await refresh()
}

/**
 * Runs one typed call with a fresh token; a 401 anyway (a token revoked
 * early, by logout-all elsewhere) refreshes and tries once more.
 */
export const call = async <A, E>(f: (c: Client) => Effect.Effect<A, E>): Promise<A> => {
  await ensureFresh()
  const first = await Effect.runPromise(Effect.either(f(client)))
  if (Either.isRight(first)) return first.right
  const error = toApiError(first.left)
  if (error.status !== 401 || session === null) throw error
  if (!(await refresh())) throw new ApiError("Your session has ended. Sign in again.", "SESSION_ENDED", 401)
  const second = await Effect.runPromise(Effect.either(f(client)))
  if (Either.isRight(second)) return second.right
  throw toApiError(second.left)
}

export const startSession = (s: { access_token: string; refresh_token: string; user: { id: string; username: string; role: string } }) =>
  setSession({ accessToken: s.access_token, refreshToken: s.refresh_token, userId: s.user.id, username: s.user.username, role: s.user.role })

export const signOut = async () => {
  const s = session
  setSession(null)
  if (s !== null) await Effect.runPromise(Effect.either(client.auth.logout({ payload: { refresh_token: s.refreshToken } })))
}

const decodeTrack = Schema.decodeUnknownSync(Track)

/**
 * The upload is the one call not made through the typed client: fetch cannot
 * report how much of a request body has been sent, and a progress bar for a
 * 100 MB file needs that, so this uses XMLHttpRequest's upload events. The
 * answer is still decoded with the server's own Track schema.
 */
export const uploadTrack = (
  form: FormData,
  onProgress: (sent: number, total: number) => void,
  signal?: AbortSignal
): Promise<typeof Track.Type> => {
  const attempt = () =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const xhr = new XMLHttpRequest()
      xhr.open("POST", "/api/v1/tracks")
      if (session !== null) xhr.setRequestHeader("authorization", `Bearer ${session.accessToken}`)
      xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : 0)
      xhr.onload = () => resolve({ status: xhr.status, body: xhr.responseText })
      xhr.onerror = () => reject(new ApiError("The upload was cut off. Check your connection, then retry.", "NETWORK", undefined))
      xhr.onabort = () => reject(new ApiError("Upload cancelled.", "ABORTED", undefined))
      signal?.addEventListener("abort", () => xhr.abort())
      xhr.send(form)
    })
  const parse = ({ status, body }: { status: number; body: string }) => {
    let json: unknown
    try {
      json = JSON.parse(body)
    } catch {
      throw new ApiError(`The server answered ${status} without a readable body. Retry in a moment.`, "BAD_RESPONSE", status)
    }
    if (status === 201) return decodeTrack(json)
    const error = (json as { error?: { code?: string; message?: string } }).error
    throw new ApiError(error?.message ?? `Upload failed (${status}).`, error?.code ?? "UNKNOWN", status)
  }
  return ensureFresh().then(attempt).then(async (first) => {
    if (first.status === 401 && session !== null && (await refresh())) return parse(await attempt())
    return parse(first)
  })
}

/** Branded ids (TrackId, UserId…) come from URLs and links as plain strings. */
export const id = <T>(value: string): T => value as unknown as T
