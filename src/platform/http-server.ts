import * as NodeHttp from "node:http"
import type * as NodeNet from "node:net"
import { HttpLayerRouter } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Duration, Effect, Layer } from "effect"
import { ClientInfoReader } from "./client-info.js"
import { AppConfig } from "./config.js"
import { errorBoundary, type FrontState, nodeFront, routeLabeller } from "./http-middleware.js"
import { Metrics } from "./metrics.js"
import { Readiness } from "./readiness.js"

/** Raw `upgrade` handling for faces that drive `ws` themselves (the chat gateway). */
export type UpgradeHandler = (request: NodeHttp.IncomingMessage, socket: NodeNet.Socket, head: Buffer) => void

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
 * Stop accepting, let in-flight requests finish within the grace period,
 * then cut whatever is left. Idle keep-alive sockets are closed at once.
 */
const drain = (server: NodeHttp.Server, grace: Duration.Duration) =>
  // Finalizers are uninterruptible; the wait must not be, or the timeout could never win.
  Effect.interruptible(
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
      server.closeIdleConnections()
    })
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
 * to the Effect app built from `routes`, upgrades to the handlers given (so a
 * gateway can drive `ws` itself on the same port). Closing the layer's scope
 * flips readiness, stops accepting and drains; resources acquired before this
 * layer (database, storage) are still open while in-flight requests finish.
 */
export const HttpServerLive = <E, R>(options: {
  readonly routes: Layer.Layer<never, E, R>
  /** Path templates (`/api/v1/users/:id`) used as metrics labels. */
  readonly routeTemplates: ReadonlyArray<string>
  readonly upgrades?: ReadonlyMap<string, UpgradeHandler>
}) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const config = yield* AppConfig
      const readiness = yield* Readiness
      const metrics = yield* Metrics
      const app = yield* HttpLayerRouter.toHttpEffect(options.routes)
      const handler = yield* NodeHttpServer.makeHandler(errorBoundary(config)(app))
      const state: FrontState = { draining: false }
      const clients = yield* ClientInfoReader
      const front = nodeFront(config, metrics, routeLabeller(options.routeTemplates), clients.addressHeader, state, handler)
      const upgrades = options.upgrades ?? new Map<string, UpgradeHandler>()
      const server = NodeHttp.createServer({ requestTimeout: config.requestTimeoutMs, keepAliveTimeout: 5000 }, front)
      server.on("upgrade", (request: NodeHttp.IncomingMessage, socket: NodeNet.Socket, head: Buffer) => {
        const path = (request.url ?? "/").split("?")[0] ?? "/"
        const upgrade = upgrades.get(path)
        if (upgrade !== undefined) return upgrade(request, socket, head)
        socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
      })
      const address = yield* Effect.acquireRelease(listen(server, config.host, config.port), () =>
        Effect.gen(function* () {
          yield* readiness.startDraining
          state.draining = true
          yield* Effect.logInfo("draining HTTP server")
          if (config.readinessDelayMs > 0) yield* Effect.sleep(Duration.millis(config.readinessDelayMs))
          yield* drain(server, config.shutdownGrace)
          yield* Effect.logInfo("HTTP server closed")
        })
      )
      yield* Effect.logInfo("listening").pipe(
        Effect.annotateLogs({ host: address.address, port: address.port, roles: config.roles.join(",") })
      )
    })
  )
