import * as NodeCrypto from "node:crypto"
import type * as NodeHttp from "node:http"
import * as NodeNet from "node:net"
import { HttpIncomingMessage, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Cause, Effect, Option } from "effect"
import { errorBody } from "./api-errors.js"
import type { AppSettings } from "./config.js"
import type { Metrics } from "./metrics.js"
import { retryableError } from "./sql-errors.js"

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

const jsonError = (status: number, code: string, message: string, details?: unknown) =>
  HttpServerResponse.unsafeJson(errorBody(code, message, details), { status })

const STATUS_CODES: Record<number, string> = {
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  405: "METHOD_NOT_ALLOWED",
  411: "LENGTH_REQUIRED",
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

/** Schema messages quote the offending value; a megabyte of it is no help to anyone reading the error. */
const ISSUE_MESSAGE_MAX = 300
const clip = (message: string) => (message.length > ISSUE_MESSAGE_MAX ? `${message.slice(0, ISSUE_MESSAGE_MAX)}…` : message)

const describeIssues = (issues: ReadonlyArray<DecodeIssue>) =>
  issues
    .slice(0, 5)
    .map((i) => clip(i.path.length > 0 ? `${i.path.join(".")}: ${i.message}` : i.message))
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
          issues: p.issues.slice(0, 20).map((i) => ({ path: i.path.map(String), message: clip(i.message) }))
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

/** The rest of an unread body is still on the wire: the connection cannot be reused. */
const unreadBody = (response: HttpServerResponse.HttpServerResponse) => HttpServerResponse.setHeader(response, "connection", "close")

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
      if (isTagged(e, "MultipartError")) {
        return unreadBody(
          /TooLarge/.test(String(e.reason))
            ? jsonError(413, "PAYLOAD_TOO_LARGE", "request body is too large")
            : jsonError(400, "MALFORMED_BODY", "multipart body could not be parsed")
        )
      }
      // multipasta reports a multipart content type without a usable boundary
      // by emitting "error" from its constructor, before anyone listens: Node
      // throws that as ERR_UNHANDLED_ERROR carrying the emitted value.
      if (typeof e === "object" && e !== null && (e as { code?: unknown }).code === "ERR_UNHANDLED_ERROR" && isTagged((e as { context?: unknown }).context, "InvalidBoundary")) {
        return unreadBody(jsonError(400, "MALFORMED_BODY", "multipart body without a valid boundary parameter"))
      }
      if (isTagged(e, "RequestError")) {
        const text = `${String(e.description ?? "")} ${String(e.cause ?? "")}`
        if (/max|too large|exceed/i.test(text)) {
          return unreadBody(jsonError(413, "PAYLOAD_TOO_LARGE", "request body is too large"))
        }
        return jsonError(400, "MALFORMED_BODY", "request body could not be read as the declared content type (malformed JSON?)")
      }
    }
    // A database outage can also surface as a defect: @effect/sql dies when the
    // ROLLBACK or COMMIT of a transaction fails, which it does once the
    // connection is gone. That is still a 503 to retry, not a bug; so is a
    // transaction PostgreSQL aborted to settle a collision.
    const retryable = retryableError(e)
    if (Option.isSome(retryable)) {
      yield* Effect.logWarning("database error to retry").pipe(Effect.annotateLogs({ request_id: requestId, error: String((e as { cause?: unknown }).cause) }))
      return jsonError(503, retryable.value.code, retryable.value.message)
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

/**
 * The policy of every response that is not a page: JSON, playlists, segments
 * and files are never documents that run anything, frame anything or submit
 * anything, so nothing is allowed.
 */
export const NO_CONTENT_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

export const securityHeaders = (production: boolean) => {
  const base: Record<string, string> = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": NO_CONTENT_POLICY
  }
  if (production) base["strict-transport-security"] = "max-age=31536000; includeSubDomains"
  return base
}

/** No request of ours nests deeper than a handful of levels; the limit leaves room for RPC envelopes. */
export const MAX_JSON_DEPTH = 64

/** Whether JSON text nests deeper than `limit` (brackets inside strings do not count); a linear scan, no parse. */
export const jsonNestsDeeperThan = (text: string, limit: number) => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}

const BODILESS = new Set(["GET", "HEAD", "OPTIONS"])

/**
 * Refuses JSON bodies nested deeper than MAX_JSON_DEPTH before any handler
 * decodes them: JSON.parse copes, but describing such a value in a schema
 * error recurses once per level and overflowed the stack (a 500). The body
 * text is cached by the request, so handlers read it again for free.
 */
const refuseDeepJson = <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const contentType = request.headers["content-type"]?.toLowerCase()
    // HttpApi reads a body without a content type as JSON.
    if (BODILESS.has(request.method) || (contentType !== undefined && !contentType.includes("json"))) return app
    return request.text.pipe(
      Effect.matchEffect({
        // Unreadable or too large: the handler meets the same cached failure and answers it.
        onFailure: () => app,
        onSuccess: (text) =>
          jsonNestsDeeperThan(text, MAX_JSON_DEPTH)
            ? Effect.succeed(jsonError(400, "MALFORMED_BODY", `JSON nested deeper than ${MAX_JSON_DEPTH} levels`))
            : app
      })
    )
  })

/** The Effect side: body limit, failures that escaped handlers, and the error envelope. */
export const errorBoundary = (config: AppSettings) => {
  const maxBody = Option.some(config.maxJsonBodyBytes)
  return <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
    app.pipe(
      refuseDeepJson,
      HttpIncomingMessage.withMaxBodySize(maxBody),
      Effect.catchAllCause((cause) =>
        Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
          failureResponse(cause, request, request.headers["x-request-id"] ?? "unknown")
        )
      ),
      Effect.map((response) => (response.status >= 400 ? normaliseErrorBody(response) : response))
    )
}

const LOGGED_AT_INFO = new Set(["trace", "debug", "info"])

/**
 * The client's address. Behind a proxy (TRUST_PROXY), the rightmost
 * X-Forwarded-For entry is the one our proxy appended; entries to its left
 * were written by the client and prove nothing. Zone ids (`fe80::1%eth0`) are
 * dropped: they name our interface, not the client, and PostgreSQL's inet
 * refuses them.
 */
const clientIp = (request: NodeHttp.IncomingMessage, trustProxy: boolean) => {
  const forwarded = trustProxy ? String(request.headers["x-forwarded-for"] ?? "").split(",").pop()!.trim() : ""
  const candidate = NodeNet.isIP(forwarded) !== 0 ? forwarded : (request.socket.remoteAddress ?? "0.0.0.0")
  const unzoned = candidate.split("%")[0]!
  return unzoned.startsWith("::ffff:") ? unzoned.slice(7) : unzoned
}

export const sendJson = (response: NodeHttp.ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body)
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text)
}

/**
 * Gives a request its id (the caller's `x-request-id` when well-formed) and
 * records the client's address under `addressHeader`, overwriting whatever the
 * client sent: handlers, HTTP or RPC, plain or upgraded, read them back.
 */
export const requestIdentifier = (config: AppSettings, addressHeader: string) => (request: NodeHttp.IncomingMessage) => {
  const incomingId = request.headers["x-request-id"]
  const requestId = typeof incomingId === "string" && REQUEST_ID.test(incomingId) ? incomingId : NodeCrypto.randomUUID()
  const ip = clientIp(request, config.trustProxy)
  request.headers["x-request-id"] = requestId
  request.headers[addressHeader] = ip
  return { requestId, ip }
}

/**
 * The node side, in front of the Effect app: request id, client address,
 * CORS, security headers, refusing bodies that announce themselves too
 * large, metrics and the access log. Plain Node code on purpose: it runs on
 * every request, and as Effect code it cost a third of the request's CPU
 * (docs/performance.md).
 */
export const nodeFront = (
  config: AppSettings,
  metrics: Metrics,
  routeLabel: (path: string) => string,
  identify: ReturnType<typeof requestIdentifier>,
  /** True once shutdown begins: responses then ask clients to reconnect elsewhere. */
  isDraining: () => boolean,
  /** Content-Security-Policy of the HTML pages, by exact path; everything else gets NO_CONTENT_POLICY. */
  pagePolicies: ReadonlyMap<string, string>,
  next: (request: NodeHttp.IncomingMessage, response: NodeHttp.ServerResponse) => void
) => {
  const cors = corsPolicy(config)
  const fixedHeaders = Object.entries(securityHeaders(config.isProduction))
  const accessLog = config.accessLog && LOGGED_AT_INFO.has(config.logLevel)

  return (request: NodeHttp.IncomingMessage, response: NodeHttp.ServerResponse) => {
    const started = process.hrtime.bigint()
    const { requestId, ip } = identify(request)

    for (const [name, value] of fixedHeaders) response.setHeader(name, value)
    if (pagePolicies.size > 0) {
      const page = pagePolicies.get((request.url ?? "/").split("?")[0]!)
      if (page !== undefined) response.setHeader("content-security-policy", page)
    }
    response.setHeader("x-request-id", requestId)
    // Every answer depends on Origin, also the ones without CORS headers: a
    // cache must not hand a refused origin's answer to an allowed one.
    response.setHeader("vary", "Origin")
    if (isDraining()) response.setHeader("connection", "close")
    const origin = request.headers["origin"]
    const corsAllowed = origin !== undefined && cors.allows(origin)
    if (corsAllowed) {
      response.setHeader("access-control-allow-origin", origin)
      response.setHeader("access-control-expose-headers", "x-request-id, retry-after")
    }

    // "close" rather than "finish": requests whose connection ended before a
    // complete response (client gone, body cut off) are counted too, as 499.
    response.once("close", () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      const path = (request.url ?? "/").split("?")[0]!
      const route = routeLabel(path)
      const status = response.writableFinished ? response.statusCode : 499
      metrics.httpRequests.inc({ method: request.method ?? "", route, status: String(status) })
      metrics.httpDuration.observe({ method: request.method ?? "", route }, seconds)
      if (accessLog) {
        // Same line shape as Effect's JSON logger, without a fiber per request.
        process.stdout.write(
          JSON.stringify({
            message: "request",
            logLevel: "INFO",
            timestamp: new Date().toISOString(),
            annotations: {
              request_id: requestId,
              method: request.method,
              path,
              status,
              duration_ms: Math.round(seconds * 1e5) / 100,
              ip
            }
          }) + "\n"
        )
      }
    })

    if (request.method === "OPTIONS" && request.headers["access-control-request-method"] !== undefined) {
      response.setHeader("vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
      if (corsAllowed) {
        response.setHeader("access-control-allow-methods", CORS_METHODS)
        response.setHeader("access-control-allow-headers", request.headers["access-control-request-headers"] ?? CORS_HEADERS)
        response.setHeader("access-control-max-age", "600")
      }
      response.writeHead(204).end()
      return
    }
    const declaredLength = Number(request.headers["content-length"] ?? 0)
    const isMultipart = request.headers["content-type"]?.startsWith("multipart/") === true
    if (declaredLength > config.maxJsonBodyBytes && !isMultipart) {
      // Refused before reading: the body limit would otherwise reset the connection mid-upload.
      response.setHeader("connection", "close")
      sendJson(response, 413, errorBody("PAYLOAD_TOO_LARGE", `request body exceeds ${config.maxJsonBodyBytes} bytes`))
      return
    }
    if (request.headers["content-length"] === undefined && request.headers["transfer-encoding"] !== undefined && !isMultipart) {
      // The body reader destroys a request that outgrows the limit, and the
      // socket with it, so a 413 could never be sent. JSON is small: clients
      // know its length (fetch, browsers and the RPC client always send it).
      response.setHeader("connection", "close")
      sendJson(response, 411, errorBody("LENGTH_REQUIRED", "request bodies other than multipart uploads must declare their Content-Length"))
      return
    }
    next(request, response)
  }
}

/**
 * Metrics label for a path: the route template it matches, so series stay
 * bounded whatever ids or names appear in URLs; anything else is "unmatched".
 */
export const routeLabeller = (templates: ReadonlyArray<string>) => {
  const escape = (segment: string) => segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  const compiled = templates.map((template) => ({
    template,
    pattern: new RegExp(
      "^" + template.split("/").map((seg) => (seg.startsWith(":") ? "[^/]+" : seg === "*" ? ".*" : escape(seg))).join("/") + "$"
    )
  }))
  return (path: string) => compiled.find((c) => c.pattern.test(path))?.template ?? "unmatched"
}
