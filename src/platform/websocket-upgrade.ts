import type * as NodeHttp from "node:http"
import { Headers, HttpServerRequest, Socket } from "@effect/platform"
import { Effect, FiberSet } from "effect"
import * as WS from "ws"
import type { UpgradeHandler, WebSocketEndpoint } from "./http-server.js"

/**
 * Serves an Effect app that expects `request.upgrade` (such as @effect/rpc's
 * WebSocket protocol) from the HTTP server's own upgrade dispatch. Sockets
 * live in this scope: closing it closes every one with 1001 (going away).
 * The app sees the upgrade request's headers as the HTTP server stamped them
 * (request id, client address), as plain requests do.
 */
export const makeWebSocketUpgrade = <E, R>(
  app: Effect.Effect<unknown, E, R>,
  options: { readonly maxPayload: number }
) =>
  Effect.gen(function* () {
    // A peer that never answers the close handshake is cut after a few seconds.
    const closeClients = (wss: WS.WebSocketServer) =>
      Effect.async<void>((resume) => {
        if (wss.clients.size === 0) return resume(Effect.void)
        let open = wss.clients.size
        for (const client of wss.clients) {
          client.once("close", () => --open === 0 && resume(Effect.void))
          // close() sends after what is already buffered: queued frames go out first.
          client.close(1001, "server shutting down")
        }
      }).pipe(
        Effect.timeoutTo({
          duration: "5 seconds",
          onSuccess: () => Effect.void,
          onTimeout: () => Effect.sync(() => wss.clients.forEach((client) => client.terminate()))
        }),
        Effect.flatten,
        Effect.interruptible
      )
    const server = yield* Effect.acquireRelease(
      Effect.sync(() => new WS.WebSocketServer({ noServer: true, maxPayload: options.maxPayload })),
      (wss) => Effect.zipRight(closeClients(wss), Effect.async<void>((resume) => wss.close(() => resume(Effect.void))))
    )
    const fibers = yield* FiberSet.make<unknown, E>()
    const run = yield* FiberSet.runtime(fibers)<Exclude<R, HttpServerRequest.HttpServerRequest>>()

    const serve = (ws: WS.WebSocket, incoming: NodeHttp.IncomingMessage) => {
      const headers = Headers.fromInput(incoming.headers as Record<string, string | ReadonlyArray<string> | undefined>)
      const upgrade = Socket.fromWebSocket(Effect.succeed(ws as unknown as globalThis.WebSocket))
      // Only what a WebSocket app reads of a request: its headers and the upgraded socket.
      const request = { headers, upgrade, url: incoming.url ?? "/", method: "GET" } as unknown as HttpServerRequest.HttpServerRequest
      run(app.pipe(Effect.provideService(HttpServerRequest.HttpServerRequest, request)) as Effect.Effect<unknown, E, Exclude<R, HttpServerRequest.HttpServerRequest>>)
    }

    const upgrade: UpgradeHandler = (incoming, socket, head) => {
      server.handleUpgrade(incoming, socket, head, (ws) => serve(ws, incoming))
    }
    return { upgrade, closeAll: closeClients(server) } satisfies WebSocketEndpoint
  })
