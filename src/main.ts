/**
 * The only wiring point: which layers make a Veza process, in which order.
 * Acquisition order is shutdown order reversed: config, metrics and the
 * database come first, the HTTP server last, so on SIGTERM the server stops
 * and drains while everything it uses is still open.
 */
import { HttpApiScalar, HttpLayerRouter } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { RpcServer } from "@effect/rpc"
import { SqlClient } from "@effect/sql"
import { Cause, Effect, Layer, Logger, LogLevel, Option } from "effect"
import { AdminHandlers, AdminRpcHandlers } from "./admin/handlers.js"
import { Admin } from "./admin/service.js"
import { VezaApi } from "./api.js"
import { AuditLog } from "./audit/service.js"
import { Authenticator, AuthenticationLive } from "./auth/authentication.js"
import { AuthMaintenanceLive } from "./auth/maintenance.js"
import { AuthHandlers, AuthRpcHandlers, RpcAuthenticationLive } from "./auth/handlers.js"
import { Auth } from "./auth/service.js"
import { ClientInfoReader } from "./platform/client-info.js"
import { AppConfig, logLevelConfig, type Role } from "./platform/config.js"
import { PublicReadCache } from "./platform/public-read-cache.js"
import { DatabaseLive } from "./platform/database.js"
import { FastRoutes, HttpServerLive, type WebSocketEndpoint, WebSocketRoutes } from "./platform/http-server.js"
import { makeWebSocketUpgrade } from "./platform/websocket-upgrade.js"
import { Mailer } from "./platform/mailer.js"
import { Metrics } from "./platform/metrics.js"
import { OPS_PATHS, OpsRoutes } from "./platform/ops-routes.js"
import { layerCheckedNdjson } from "./platform/rpc-serialization.js"
import { Readiness } from "./platform/readiness.js"
import { WebAssetRoutes } from "./platform/web-assets.js"
import { VezaRpcs } from "./rpc.js"
import { ChatBusLive } from "./chat/bus.js"
import { ChatConfig } from "./chat/config.js"
import { ChatGateway, ChatGatewayLive } from "./chat/gateway.js"
import { ChatHandlers, ChatRpcHandlers } from "./chat/handlers.js"
import { ChatHub } from "./chat/hub.js"
import { ChatLimitsLive } from "./chat/limits.js"
import { Chat } from "./chat/service.js"
import { FFmpegLive } from "./platform/ffmpeg.js"
import { MarketHandlers, MarketRpcHandlers, ProductDownloadRoutes } from "./market/handlers.js"
import { PRODUCT_DOWNLOAD_PATHS } from "./market/links.js"
import { MarketMaintenanceLive } from "./market/maintenance.js"
import { SandboxPaymentGateway } from "./market/payment-gateway.js"
import { Market } from "./market/service.js"
import { SearchHandlers, SearchRpcHandlers } from "./search/handlers.js"
import { Search } from "./search/service.js"
import { Storage, StorageLive } from "./platform/storage.js"
import { HLS_PATHS, HlsRoutesLive } from "./hls/server.js"
import { StreamLinks } from "./hls/links.js"
import { StreamingConfig, TrackLibraryConfig } from "./tracks/config.js"
import { TRACK_DOWNLOAD_PATHS, TrackDownloadLinks, TrackDownloadRoutes } from "./tracks/downloads.js"
import { TracksHandlers, TracksRpcHandlers } from "./tracks/handlers.js"
import { TrackLibrary } from "./tracks/library.js"
import { LibraryRepo } from "./tracks/library-repo.js"
import { TrackPurgeLive } from "./tracks/purge.js"
import { TracksRepo } from "./tracks/repo.js"
import { Tracks } from "./tracks/service.js"
import { JobQueue } from "./transcoding/queue.js"
import { TranscodeSignal } from "./transcoding/signal.js"
import { TranscodeWorkersLive } from "./transcoding/worker.js"
import { PlaylistsHandlers, PlaylistsRpcHandlers } from "./playlists/handlers.js"
import { Playlists } from "./playlists/service.js"
import { Blocks } from "./social/blocks.js"
import { SocialHandlers, SocialRpcHandlers } from "./social/handlers.js"
import { Notifications } from "./social/notifications.js"
import { Social } from "./social/service.js"
import { UsersHandlers, UsersRpcHandlers } from "./users/handlers.js"
import { Users } from "./users/service.js"

const LOG_LEVELS = {
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  error: LogLevel.Error,
  none: LogLevel.None
} as const

/** JSON lines on stdout, from the first log line on (before the rest of the config is read). */
const LoggingLive = Layer.unwrapEffect(
  Effect.map(Effect.orElseSucceed(logLevelConfig, () => "info" as const), (level) =>
    Layer.mergeAll(Logger.json, Logger.minimumLogLevel(LOG_LEVELS[level]))
  )
)

const DependencyReadiness = Layer.effectDiscard(
  Effect.gen(function* () {
    const readiness = yield* Readiness
    const sql = yield* SqlClient.SqlClient
    const storage = yield* Storage
    yield* readiness.register("database", sql`select 1`)
    yield* readiness.register("storage", storage.check)
  })
)

// The marketplace sells linked tracks through the tracks service; payments settle through the sandbox gateway until a provider adapter is wired here.
const DomainLive = Layer.mergeAll(Market.Default.pipe(Layer.provide(SandboxPaymentGateway)), Search.Default, Playlists.Default, Social.Default, Admin.Default).pipe(
  Layer.provideMerge(
    Layer.mergeAll(Auth.Default, Authenticator.Default, TrackLibrary.Default, TrackDownloadLinks.Default, LibraryRepo.Default, StreamLinks.Default, Chat.Default)
  ),
  Layer.provideMerge(Layer.mergeAll(Tracks.Default, TracksRepo.Default, Blocks.Default, Notifications.Default)),
  Layer.provideMerge(
    Layer.mergeAll(
      Users.Default,
      Mailer.Default,
      AuditLog.Default,
      TranscodeSignal.Default,
      StreamingConfig.Default,
      TrackLibraryConfig.Default,
      PublicReadCache.Default,
      ChatConfig.Default,
      ChatBusLive
    )
  )
)

const RpcHandlersLive = Layer.mergeAll(
  AuthRpcHandlers,
  UsersRpcHandlers,
  TracksRpcHandlers,
  PlaylistsRpcHandlers,
  SocialRpcHandlers,
  SearchRpcHandlers,
  MarketRpcHandlers,
  ChatRpcHandlers,
  AdminRpcHandlers,
  RpcAuthenticationLive,
  layerCheckedNdjson
)

/** `/rpc` over WebSocket: the same RPC group, one connection carrying many calls. */
const rpcWebSocket = Effect.gen(function* () {
  const config = yield* AppConfig
  const { httpApp, protocol } = yield* RpcServer.makeProtocolWithHttpAppWebsocket
  yield* Layer.build(RpcServer.layer(VezaRpcs).pipe(Layer.provide(Layer.succeed(RpcServer.Protocol, protocol))))
  return yield* makeWebSocketUpgrade(httpApp, { maxPayload: config.maxJsonBodyBytes })
})

/** The WebSocket endpoints of this process's roles: `/rpc` (api) and the chat gateway `/ws` (chat). */
const WebSocketRoutesLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    Layer.scoped(
      WebSocketRoutes,
      Effect.gen(function* () {
        const routes = new Map<string, WebSocketEndpoint>()
        if (config.roles.includes("api")) routes.set("/rpc", yield* rpcWebSocket)
        const gateway = yield* Effect.serviceOption(ChatGateway)
        if (gateway._tag === "Some") routes.set("/ws", gateway.value)
        return routes
      })
    ).pipe(
      Layer.provide(RpcHandlersLive),
      Layer.provide(config.roles.includes("chat") ? ChatGatewayLive.pipe(Layer.provide([ChatHub.Default, ChatLimitsLive])) : Layer.empty)
    )
  )
)

const ApiFace = Layer.mergeAll(
  HttpLayerRouter.addHttpApi(VezaApi, { openapiPath: "/api/v1/openapi.json" }).pipe(
    Layer.provide([AuthHandlers, UsersHandlers, TracksHandlers, ChatHandlers, MarketHandlers, SearchHandlers, PlaylistsHandlers, SocialHandlers, AdminHandlers])
  ),
  // Fonts from Scalar's CDN would be the page's only request to another origin; its CSP allows none.
  HttpApiScalar.layerHttpLayerRouter({ api: VezaApi, path: "/docs", scalar: { withDefaultFonts: false } }),
  ProductDownloadRoutes,
  TrackDownloadRoutes,
  RpcServer.layerHttpRouter({ group: VezaRpcs, path: "/rpc", protocol: "http" }).pipe(
    Layer.provide(RpcHandlersLive)
  ),
  // The web client at `/`: a catch-all, so every route above wins over it.
  WebAssetRoutes
).pipe(Layer.provide(AuthenticationLive))

const API_PATHS = [
  ...Object.values(VezaApi.groups).flatMap((group) => Object.values(group.endpoints).map((endpoint) => endpoint.path)),
  "/api/v1/openapi.json",
  "/docs",
  "/rpc",
  ...PRODUCT_DOWNLOAD_PATHS,
  ...TRACK_DOWNLOAD_PATHS
]

/**
 * The one HTML page, /docs: Scalar's bundle and the API definition are inlined
 * in it, so its inline scripts and styles must run. Nothing a user wrote
 * reaches that page; the policy still keeps it to its own origin and out of frames.
 */
const DOCS_PAGE_POLICY = [
  "default-src 'none'",
  "script-src 'unsafe-inline' 'wasm-unsafe-eval'",
  "style-src 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'"
].join("; ")

/** The faces this process serves, chosen by VEZA_ROLES. */
const RoutesLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) => {
    const onlyFor = <E, R>(role: Role, face: Layer.Layer<never, E, R>): Layer.Layer<never, E, R> =>
      config.roles.includes(role) ? face : Layer.empty
    const server = HttpServerLive({
      routes: Layer.mergeAll(OpsRoutes, onlyFor("api", ApiFace)),
      routeTemplates: [...OPS_PATHS, ...API_PATHS, ...HLS_PATHS],
      pagePolicies: new Map([["/docs", DOCS_PAGE_POLICY]])
    }).pipe(
      Layer.provide(config.roles.includes("stream") ? HlsRoutesLive : Layer.succeed(FastRoutes, [])),
      // Built before the server, so released after it: the server's drain stops
      // claims (readiness), then the workers get their grace period.
      Layer.provide(onlyFor("stream", TranscodeWorkersLive.pipe(Layer.provide(JobQueue.Default))))
    )
    return Layer.mergeAll(server, onlyFor("api", AuthMaintenanceLive), onlyFor("api", TrackPurgeLive), onlyFor("api", MarketMaintenanceLive))
  })
)

const AppLive = RoutesLive.pipe(
  Layer.provide(WebSocketRoutesLive),
  Layer.provide(DomainLive),
  Layer.provide(DependencyReadiness),
  Layer.provideMerge(Layer.mergeAll(StorageLive, FFmpegLive)),
  Layer.provideMerge(DatabaseLive),
  Layer.provideMerge(Layer.mergeAll(Metrics.Default, Readiness.Default, ClientInfoReader.Default, NodeHttpServer.layerContext)),
  Layer.provideMerge(AppConfig.Default)
)

const MigrateOnly = DatabaseLive.pipe(Layer.provideMerge(AppConfig.Default))

/**
 * Known start-up failures (bad configuration, unreachable database, a port in
 * use, a broken migration) end in one clear line on stderr and exit 1.
 */
const reportFailure = (cause: Cause.Cause<unknown>) =>
  Effect.sync(() => {
    const failure = Cause.failureOption(cause)
    const message = Option.match(failure, {
      onNone: () => Cause.pretty(cause),
      onSome: (e) => (e instanceof Error || (typeof e === "object" && e !== null && "message" in e) ? String((e as { message: unknown }).message) : String(e))
    })
    process.stderr.write(`veza: ${message.replace(/\s+/g, " ").trim()}\n`)
  })

const program: Effect.Effect<void, unknown, never> =
  process.argv[2] === "migrate"
    ? Effect.scoped(Layer.build(MigrateOnly)).pipe(Effect.zipRight(Effect.logInfo("migrations up to date")))
    : Layer.launch(AppLive)

NodeRuntime.runMain(
  // No span exporter is wired, so spans would only cost CPU on every request and query.
  program.pipe(Effect.withTracerEnabled(false), Effect.provide(LoggingLive), Effect.tapErrorCause((cause) => (Cause.isInterruptedOnly(cause) ? Effect.void : reportFailure(cause)))),
  { disableErrorReporting: true, disablePrettyLogger: true }
)
