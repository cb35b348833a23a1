import * as NodeHttp from "node:http"
import type * as NodeNet from "node:net"
import { HttpLayerRouter } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Duration, Effect, Layer } from "effect"
import { errorBody } from "./api-errors.js"
import { ClientInfoReader } from "./client-info.js"
import { AppConfig } from "./config.js"
import { errorBoundary, nodeFront, requestIdentifier, routeLabeller, securityHeaders } from "./http-middleware.js"
import { Metrics } from "./metrics.js"
import { Readiness } from "./readiness.js"

/** Raw `upgrade` handling for faces that serve WebSockets (RPC, the chat gateway). */
export type UpgradeHandler = (request: NodeHttp.IncomingMessage, socket: NodeNet.Socket, head: Buffer) => void

export interface WebSocketEndpoint {
  readonly upgrade: UpgradeHandler
  /** Closes every connection with 1001 once its queued frames are out; run when draining starts. */
  readonly closeAll: Effect.Effect<void>
}

/** The WebSocket endpoints of this process, by path; faces add theirs. */
export class WebSocketRoutes extends Context.Tag("veza/WebSocketRoutes")<WebSocketRoutes, ReadonlyMap<string, WebSocketEndpoint>>() {}

/**
 * Plain Node handlers for hot paths (HLS files) that would pay for the Effect
 * HTTP stack on every request; they still get the front's request id, CORS,
 * metrics and access log. The first route whose prefix matches the path wins.
 */
export interface FastRoute {
  readonly prefix: string
  readonly handle: (request: NodeHttp.IncomingMessage, response: NodeHttp.ServerResponse) => void
}

export class FastRoutes extends Context.Tag("veza/FastRoutes")<FastRoutes, ReadonlyArray<FastRoute>>() {}

/** Answers an upgrade request that will not be upgraded, in the usual error envelope. */
const refuseUpgrade = (socket: NodeNet.Socket, status: 404 | 503, body: unknown) => {
  const text = JSON.stringify(body)
  socket.end(
    `HTTP/1.1 ${status} ${NodeHttp.STATUS_CODES[status]}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`
  )
}

const CLIENT_ERROR_STATUS: Record<string, 400 | 408 | 413 | 431> = {
  ERR_HTTP_REQUEST_TIMEOUT: 408,
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413
}

/**
 * Requests Node refuses before any handler sees them (malformed HTTP, headers
 * too large, a client too slow to send its request) still get the envelope
 * and the security headers instead of Node's bare status line.
 */
const answerClientError = (production: boolean) => {
  const headers = Object.entries(securityHeaders(production))
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("")
  return (error: Error & { code?: string }, socket: NodeNet.Socket) => {
    // A response already under way cannot be replaced, and a reset peer reads nothing.
    const inFlight = (socket as { _httpMessage?: NodeHttp.ServerResponse })._httpMessage
    if (error.code === "ECONNRESET" || !socket.writable || inFlight?.headersSent === true) return socket.destroy()
    const status = CLIENT_ERROR_STATUS[error.code ?? ""] ?? 400
    const body =
      status === 408
        ? errorBody("REQUEST_TIMEOUT", "the request was not received in time")
        : status === 431
          ? errorBody("HEADERS_TOO_LARGE", "request headers are too large")
          : status === 413
            ? errorBody("PAYLOAD_TOO_LARGE", "request body is too large")
            : errorBody("BAD_REQUEST", "malformed HTTP request")
    const text = JSON.stringify(body)
    socket.end(
      `HTTP/1.1 ${status} ${NodeHttp.STATUS_CODES[status]}\r\n${headers}content-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`
    )
  }
}

/**
 * Headers are a few hundred bytes: a client still sending them after this
 * long is holding a connection open (slowloris), whatever REQUEST_TIMEOUT_MS
 * allows for a body.
 */
const MAX_HEADERS_TIMEOUT_MS = 10_000

const listen = (server: NodeHttp.Server, host: string, port: number) =>
  Effect.async<NodeNet.AddressInfo, Error>((resume) => {
    const onError = (e: Error) => resume(Effect.fail(e))
    server.once("error", onError)
    server.listen(port, host, () => {
      server.off("error", onError)
      resume(Effect.succeed(server.address() as NodeNet.AddressInfo))
    })
  })

/**
 * Stop accepting, close WebSockets (1001), let in-flight requests finish
 * within the grace period, then cut whatever is left. Idle keep-alive sockets
 * are closed at once, busy ones as soon as their answer is out. The server's
 * close waits for upgraded sockets too, hence WebSockets are closed here
 * rather than when their own scope ends.
 */
const drain = (server: NodeHttp.Server, inFlight: ReadonlySet<NodeHttp.ServerResponse>, endpoints: Iterable<WebSocketEndpoint>, grace: Duration.Duration) =>
  // Finalizers are uninterruptible; the wait must not be, or the timeout could never win.
  Effect.interruptible(
    Effect.async<void>((resume) => {
      // Requests already running were promised keep-alive: without this their
      // connections would idle on after the answer and hold the close until the grace ran out.
      for (const response of inFlight) {
        if (!response.headersSent) response.setHeader("connection", "close")
        response.once("close", () => setImmediate(() => server.closeIdleConnections()))
      }
      server.close(() => resume(Effect.void))
      server.closeIdleConnections()
    }).pipe(Effect.zipLeft(Effect.forEach(endpoints, (e) => e.closeAll, { concurrency: "unbounded", discard: true }), { concurrent: true }))
  ).pipe(
    Effect.timeoutTo({
      duration: grace,
      onSuccess: () => Effect.void,
      onTimeout: () =>
        Effect.logWarning("grace period over, closing remaining connections").pipe(
          Effect.zipRight(Effect.sync(() => server.closeAllConnections()))
        )
    }),
    Effect.flatten
  )

/**
 * The one HTTP server of the process. It owns the `http.Server`: requests go
 * to the Effect app built from `routes`, upgrades to the WebSocketRoutes (so a
 * gateway can drive `ws` itself on the same port); other upgrades get 404. Closing the layer's scope
 * flips readiness, stops accepting and drains; resources acquired before this
 * layer (database, storage) are still open while in-flight requests finish.
 */
export const HttpServerLive = <E, R>(options: {
  readonly routes: Layer.Layer<never, E, R>
  /** Path templates (`/api/v1/users/:id`) used as metrics labels. */
  readonly routeTemplates: ReadonlyArray<string>
  /** Content-Security-Policy of the HTML pages, by path (the default one forbids everything). */
  readonly pagePolicies?: ReadonlyMap<string, string>
}) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const config = yield* AppConfig
      const readiness = yield* Readiness
      const metrics = yield* Metrics
      const app = yield* HttpLayerRouter.toHttpEffect(options.routes)
      const handler = yield* NodeHttpServer.makeHandler(errorBoundary(config)(app))
      const clients = yield* ClientInfoReader
      const identify = requestIdentifier(config, clients.addressHeader)
      const fast = yield* FastRoutes
      const dispatch =
        fast.length === 0
          ? handler
          : (request: NodeHttp.IncomingMessage, response: NodeHttp.ServerResponse) => {
              const url = request.url ?? "/"
              const route = fast.find((r) => url.startsWith(r.prefix))
              return route === undefined ? handler(request, response) : route.handle(request, response)
            }
      const front = nodeFront(
        config,
        metrics,
        routeLabeller(options.routeTemplates),
        identify,
        readiness.isDraining,
        options.pagePolicies ?? new Map(),
        dispatch
      )
      const upgrades = yield* WebSocketRoutes
      const inFlight = new Set<NodeHttp.ServerResponse>()
      const server = NodeHttp.createServer(
        {
          requestTimeout: config.requestTimeoutMs,
          headersTimeout: Math.min(config.requestTimeoutMs, MAX_HEADERS_TIMEOUT_MS),
          // Node looks for overdue requests only this often (30 s by default), so it bounds how late they are cut.
          connectionsCheckingInterval: Math.min(Math.max(Math.floor(config.requestTimeoutMs / 4), 250), 5000),
          keepAliveTimeout: 5000
        },
        (request, response) => {
          inFlight.add(response)
          response.once("close", () => inFlight.delete(response))
          front(request, response)
        }
      )
      server.on("clientError", answerClientError(config.isProduction))
      server.on("upgrade", (request: NodeHttp.IncomingMessage, socket: NodeNet.Socket, head: Buffer) => {
        const path = (request.url ?? "/").split("?")[0] ?? "/"
        const endpoint = upgrades.get(path)
        if (endpoint === undefined) return refuseUpgrade(socket, 404, errorBody("NOT_FOUND", `no WebSocket endpoint at ${path}`))
        if (readiness.isDraining()) return refuseUpgrade(socket, 503, errorBody("SERVICE_UNAVAILABLE", "the server is shutting down, reconnect elsewhere"))
        identify(request)
        endpoint.upgrade(request, socket, head)
      })
      const address = yield* Effect.acquireRelease(listen(server, config.host, config.port), () =>
        Effect.gen(function* () {
          yield* readiness.startDraining
          yield* Effect.logInfo("draining HTTP server")
          if (config.readinessDelayMs > 0) yield* Effect.sleep(Duration.millis(config.readinessDelayMs))
          yield* drain(server, inFlight, upgrades.values(), config.shutdownGrace)
          yield* Effect.logInfo("HTTP server closed")
        })
      )
      yield* Effect.logInfo("listening").pipe(
        Effect.annotateLogs({ host: address.address, port: address.port, roles: config.roles.join(",") })
      )
    })
  )
