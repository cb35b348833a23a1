/**
 * Typed clients for other TypeScript programs: `import { makeRpcClient,
 * makeHttpClient } from "veza/client"`. Built only from the API and RPC
 * definitions, so importing this pulls in no server code.
 */
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest, Socket } from "@effect/platform"
import { RpcClient, RpcSerialization } from "@effect/rpc"
import { Effect, Layer } from "effect"
import * as WS from "ws"
import { VezaApi } from "./api.js"
import { VezaRpcs } from "./rpc.js"

export { VezaApi } from "./api.js"
export { VezaRpcs } from "./rpc.js"

export interface ClientOptions {
  /** e.g. `http://localhost:8080` */
  readonly baseUrl: string
  /** Sent as `Authorization: Bearer …` on every call when given. */
  readonly accessToken?: string
}

export interface RpcClientOptions extends ClientOptions {
  /**
   * `http` (default): one POST per call. `websocket`: one connection for all
   * calls, reconnected on failure; the token travels with the upgrade request.
   */
  readonly transport?: "http" | "websocket"
}

const authorised =
  (accessToken: string | undefined) =>
  <E, R>(client: HttpClient.HttpClient.With<E, R>): HttpClient.HttpClient.With<E, R> =>
    accessToken === undefined ? client : HttpClient.mapRequest(client, HttpClientRequest.bearerToken(accessToken))

const rpcUrl = (baseUrl: string) => `${baseUrl.replace(/\/$/, "")}/rpc`

const httpProtocol = (options: ClientOptions) =>
  RpcClient.layerProtocolHttp({ url: rpcUrl(options.baseUrl), transformClient: authorised(options.accessToken) }).pipe(
    Layer.provide(FetchHttpClient.layer)
  )

const webSocketProtocol = (options: ClientOptions) =>
  RpcClient.layerProtocolSocket({ retryTransientErrors: true }).pipe(
    Layer.provide(Socket.layerWebSocket(rpcUrl(options.baseUrl).replace(/^http/, "ws"))),
    Layer.provide(
      Layer.succeed(Socket.WebSocketConstructor, (url, protocols) => {
        const headers = options.accessToken === undefined ? {} : { authorization: `Bearer ${options.accessToken}` }
        return new WS.WebSocket(url, protocols, { headers }) as unknown as globalThis.WebSocket
      })
    )
  )

/** The `/rpc` client; needs a Scope: its protocol (a socket, for `websocket`) lives as long as that scope. */
export const makeRpcClient = (options: RpcClientOptions) =>
  Layer.build(
    (options.transport === "websocket" ? webSocketProtocol(options) : httpProtocol(options)).pipe(
      Layer.provide(RpcSerialization.layerNdjson)
    )
  ).pipe(Effect.flatMap((protocol) => RpcClient.make(VezaRpcs).pipe(Effect.provide(protocol))))

/** The REST client derived from the same HttpApi definition the server serves. */
export const makeHttpClient = (options: ClientOptions) =>
  HttpApiClient.make(VezaApi, {
    baseUrl: options.baseUrl,
    transformClient: authorised(options.accessToken)
  }).pipe(Effect.provide(FetchHttpClient.layer))
