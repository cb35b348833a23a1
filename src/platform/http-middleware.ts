import * as NodeCrypto from "node:crypto"
import { Headers, HttpIncomingMessage, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Cause, Effect, identity, Option } from "effect"
import { errorBody } from "./api-errors.js"
import { CLIENT_IP_HEADER } from "./client-info.js"
import type { AppSettings } from "./config.js"
import type { Metrics } from "./metrics.js"

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/
const UUID_SEGMENT = /\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?=\/|$)/gi
const NUMERIC_SEGMENT = /\/\d+(?=\/|$)/g

/** A bounded label for metrics: ids collapse to `:id`, so series don't grow with data. */
const routeLabel = (path: string, matched: boolean) =>
  !matched ? "unmatched" : path.replace(UUID_SEGMENT, "/:id").replace(NUMERIC_SEGMENT, "/:n")

const jsonError = (status: number, code: string, message: string, details?: unknown) =>
  HttpServerResponse.unsafeJson(errorBody(code, message, details), { status })

const STATUS_CODES: Record<number, string> = {
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  405: "METHOD_NOT_ALLOWED",
  413: "PAYLOAD_TOO_LARGE",
  415: "UNSUPPORTED_MEDIA_TYPE",
  422: "UNPROCESSABLE",
  429: "RATE_LIMITED",
  500: "INTERNAL",
  503: "SERVICE_UNAVAILABLE"
}

interface DecodeIssue {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

const describeIssues = (issues: ReadonlyArray<DecodeIssue>) =>
  issues
    .slice(0, 5)
    .map((i) => (i.path.length > 0 ? `${i.path.join(".")}: ${i.message}` : i.message))
    .join("; ")

/**
 * Error responses produced by the libraries (schema decoding, empty bodies)
 * are rewritten into the SPEC envelope. Only error responses pay for this.
 */
const normaliseErrorBody = (response: HttpServerResponse.HttpServerResponse) => {
  const body = response.body
  if (body._tag === "Uint8Array" && body.contentType.startsWith("application/json")) {
    let parsed: unknown
    try {
      parsed = JSON.parse(new TextDecoder().decode(body.body))
    } catch {
      parsed = undefined
    }
    if (typeof parsed === "object" && parsed !== null) {
      const p = parsed as { _tag?: unknown; issues?: ReadonlyArray<DecodeIssue>; error?: { details?: { retry_after_seconds?: unknown } } }
      if (p._tag === "HttpApiDecodeError" && Array.isArray(p.issues)) {
        return jsonError(400, "VALIDATION_ERROR", describeIssues(p.issues), {
          issues: p.issues.map((i) => ({ path: i.path.map(String), message: i.message }))
        })
      }
      const retryAfter = p.error?.details?.retry_after_seconds
      if (response.status === 429 && typeof retryAfter === "number") {
        return HttpServerResponse.setHeader(response, "retry-after", String(retryAfter))
      }
      if (p.error !== undefined) return response
    }
  }
  if (body._tag === "Empty" && response.status !== 204 && response.status !== 304) {
    const code = STATUS_CODES[response.status] ?? "ERROR"
    return HttpServerResponse.setHeaders(jsonError(response.status, code, code.toLowerCase().replace(/_/g, " ")), response.headers)
  }
  return response
}

const isTagged = (u: unknown, tag: string): u is { readonly _tag: string; readonly reason?: string; readonly cause?: unknown; readonly description?: string } =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === tag

/** Failures that escaped every handler: routing, body reading, defects. */
const failureResponse = (cause: Cause.Cause<unknown>, request: HttpServerRequest.HttpServerRequest, requestId: string) =>
  Effect.gen(function* () {
    if (Cause.isInterruptedOnly(cause)) {
      return jsonError(503, "SERVICE_UNAVAILABLE", "the server is shutting down, retry")
    }
    // The libraries raise some input problems (unreadable bodies) as defects.
    const e = Cause.squash(cause)
    {
      if (isTagged(e, "RouteNotFound")) {
        return jsonError(404, "NOT_FOUND", `no route for ${request.method} ${request.url.split("?")[0]}`)
      }
      if (isTagged(e, "RequestError")) {
        const text = `${String(e.description ?? "")} ${String(e.cause ?? "")}`
        if (/max|too large|exceed/i.test(text)) {
          return jsonError(413, "PAYLOAD_TOO_LARGE", "request body is too large")
        }
        return jsonError(400, "MALFORMED_BODY", "request body could not be read as the declared content type (malformed JSON?)")
      }
      if (isTagged(e, "TimeoutException")) {
        return jsonError(503, "REQUEST_TIMEOUT", "the request took too long; retry later")
      }
    }
    yield* Effect.logError("unhandled failure").pipe(Effect.annotateLogs({ request_id: requestId, cause: Cause.pretty(cause) }))
    return jsonError(500, "INTERNAL", `internal error (request ${requestId})`)
  })

export interface CorsPolicy {
  readonly allows: (origin: string) => boolean
}

/** Production: exactly the configured origins. Elsewhere: those, or any origin when none is configured. */
export const corsPolicy = (config: AppSettings): CorsPolicy => {
  const allowed = new Set(config.corsAllowedOrigins)
  if (config.isProduction || allowed.size > 0) return { allows: (origin) => allowed.has(origin) }
  return { allows: () => true }
}

const CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
const CORS_HEADERS = "authorization, content-type, x-request-id, idempotency-key"

const securityHeaders = (production: boolean) => {
  const base: Record<string, string> = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer"
  }
  if (production) base["strict-transport-security"] = "max-age=31536000; includeSubDomains"
  return base
}

/**
 * What every request goes through, whatever face serves it: request id,
 * client address, CORS, body limit, timeout, error envelope, security
 * headers, metrics and the access log.
 */
export const platformMiddleware = (
  config: AppSettings,
  metrics: Metrics,
  isDraining: Effect.Effect<boolean>
) => {
  const cors = corsPolicy(config)
  const security = securityHeaders(config.isProduction)
  const maxBody = Option.some(config.maxJsonBodyBytes)
  const timeout = `${config.requestTimeoutMs} millis` as const

  return <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
    Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const started = process.hrtime.bigint()
      const incomingId = request.headers["x-request-id"]
      const requestId = incomingId !== undefined && REQUEST_ID.test(incomingId) ? incomingId : NodeCrypto.randomUUID()
      const forwarded = config.trustProxy ? request.headers["x-forwarded-for"]?.split(",")[0]?.trim() : undefined
      const remote = forwarded !== undefined && forwarded.length > 0 ? forwarded : Option.getOrElse(request.remoteAddress, () => "0.0.0.0")
      const ip = remote.startsWith("::ffff:") ? remote.slice(7) : remote
      const origin = request.headers["origin"]
      const corsAllowed = origin !== undefined && cors.allows(origin)

      const declaredLength = Number(request.headers["content-length"] ?? 0)
      const isMultipart = request.headers["content-type"]?.startsWith("multipart/") === true

      let response: HttpServerResponse.HttpServerResponse
      let matched = true
      if (declaredLength > config.maxJsonBodyBytes && !isMultipart) {
        // Refused before reading: the body limit would otherwise reset the connection mid-upload.
        response = HttpServerResponse.setHeader(
          jsonError(413, "PAYLOAD_TOO_LARGE", `request body exceeds ${config.maxJsonBodyBytes} bytes`),
          "connection",
          "close"
        )
      } else if (request.method === "OPTIONS" && request.headers["access-control-request-method"] !== undefined) {
        response = corsAllowed
          ? HttpServerResponse.empty({
              status: 204,
              headers: Headers.fromInput({
                "access-control-allow-methods": CORS_METHODS,
                "access-control-allow-headers": request.headers["access-control-request-headers"] ?? CORS_HEADERS,
                "access-control-max-age": "600"
              })
            })
          : HttpServerResponse.empty({ status: 204 })
      } else {
        const enriched = request.modify({
          headers: Headers.set(Headers.set(request.headers, "x-request-id", requestId), CLIENT_IP_HEADER, ip)
        })
        response = yield* app.pipe(
          // Multipart routes (uploads) stream and enforce their own limits.
          isMultipart ? identity : HttpIncomingMessage.withMaxBodySize(maxBody),
          Effect.timeout(timeout),
          Effect.provideService(HttpServerRequest.HttpServerRequest, enriched),
          Effect.catchAllCause((cause) => {
            matched = !isTagged(Cause.squash(cause), "RouteNotFound")
            return failureResponse(cause, request, requestId)
          })
        )
        if (response.status >= 400) response = normaliseErrorBody(response)
      }

      const headers: Record<string, string> = { ...security, "x-request-id": requestId }
      if (corsAllowed) {
        headers["access-control-allow-origin"] = origin
        headers["access-control-expose-headers"] = "x-request-id, retry-after"
        headers["vary"] = "Origin"
      }
      if (yield* isDraining) headers["connection"] = "close"
      response = HttpServerResponse.setHeaders(response, headers)

      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      const path = request.url.split("?")[0] ?? "/"
      const route = routeLabel(path, matched)
      metrics.httpRequests.inc({ method: request.method, route, status: String(response.status) })
      metrics.httpDuration.observe({ method: request.method, route }, seconds)
      if (config.accessLog) {
        yield* Effect.logInfo("request").pipe(
          Effect.annotateLogs({
            request_id: requestId,
            method: request.method,
            path,
            status: response.status,
            duration_ms: Math.round(seconds * 1e5) / 100,
            ip
          })
        )
      }
      return response
    })
}

