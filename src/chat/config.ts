import { Config, Effect } from "effect"
import { oneLine, positiveInt, StartupError } from "../platform/config.js"

const chatConfig = Config.all({
  heartbeatMs: positiveInt("CHAT_HEARTBEAT_MS", 25_000),
  pongTimeoutMs: positiveInt("CHAT_PONG_TIMEOUT_MS", 10_000),
  authTimeoutMs: positiveInt("CHAT_AUTH_TIMEOUT_MS", 5_000),
  maxConnectionsPerUser: positiveInt("CHAT_MAX_CONNS_PER_USER", 5),
  ratePerSecond: positiveInt("CHAT_RATE_PER_SEC", 10),
  rateBurst: positiveInt("CHAT_RATE_BURST", 20),
  recoveryWindow: positiveInt("CHAT_RECOVERY_WINDOW", 1000),
  mailboxFrames: positiveInt("CHAT_MAILBOX_FRAMES", 1024).pipe(
    Config.validate({ message: "CHAT_MAILBOX_FRAMES must be at least 8", validation: (n) => n >= 8 })
  ),
  mailboxBytes: positiveInt("CHAT_MAILBOX_BYTES", 1_048_576).pipe(
    Config.validate({ message: "CHAT_MAILBOX_BYTES must be at least 65536", validation: (n) => n >= 65_536 })
  ),
  maxFrameBytes: positiveInt("CHAT_MAX_FRAME_BYTES", 65_536).pipe(
    Config.validate({ message: "CHAT_MAX_FRAME_BYTES must be between 1024 and 1048576", validation: (n) => n >= 1024 && n <= 1_048_576 })
  ),
  typingTimeoutMs: positiveInt("CHAT_TYPING_TIMEOUT_MS", 6_000),
  tokenTtlSeconds: positiveInt("CHAT_TOKEN_TTL_SECONDS", 60),
  storeStatements: positiveInt("CHAT_STORE_STATEMENTS", 2)
})

export type ChatSettings = Config.Config.Success<typeof chatConfig>

/** Settings of the chat gateway (SPEC §5). */
export class ChatConfig extends Effect.Service<ChatConfig>()("veza/ChatConfig", {
  effect: chatConfig.pipe(Effect.mapError((e) => new StartupError({ message: `configuration error: ${oneLine(String(e))}` })))
}) {}
