/**
 * Typed clients for other TypeScript programs: `import { makeRpcClient,
 * makeHttpClient } from "veza/client"`. Built only from the API and RPC
 * definitions, so importing this pulls in no server code.
 */
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { RpcClient, RpcSerialization } from "@effect/rpc"
import { Effect, Layer } from "effect"
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

const authorised =
  (accessToken: string | undefined) =>
  <E, R>(client: HttpClient.HttpClient.With<E, R>): HttpClient.HttpClient.With<E, R> =>
    accessToken === undefined ? client : HttpClient.mapRequest(client, HttpClientRequest.bearerToken(accessToken))

/** The `/rpc` client; needs a Scope (its protocol lives as long as it). */
export const makeRpcClient = (options: ClientOptions) =>
  RpcClient.make(VezaRpcs).pipe(
    Effect.provide(
      RpcClient.layerProtocolHttp({
        url: `${options.baseUrl.replace(/\/$/, "")}/rpc`,
        transformClient: authorised(options.accessToken)
      }).pipe(Layer.provide([FetchHttpClient.layer, RpcSerialization.layerNdjson]))
    )
  )

/** The REST client derived from the same HttpApi definition the server serves. */
export const makeHttpClient = (options: ClientOptions) =>
  HttpApiClient.make(VezaApi, {
    baseUrl: options.baseUrl,
    transformClient: authorised(options.accessToken)
  }).pipe(Effect.provide(FetchHttpClient.layer))
