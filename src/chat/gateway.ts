import * as NodeCrypto from "node:crypto"
import { Cause, Context, Effect, Either, Exit, Fiber, FiberRef, FiberRefs, FiberSet, Layer, Option, Runtime, Schedule, Scheduler } from "effect"
import * as WS from "ws"
import { Authenticator, bearerToken } from "../auth/authentication.js"
import type { Actor } from "../auth/current-user.js"
import type { WebSocketEndpoint } from "../platform/http-server.js"
import { Metrics } from "../platform/metrics.js"
import { unavailableError } from "../platform/sql-errors.js"
import { writePreFramed } from "../platform/websocket-frames.js"
import type { UserId } from "../users/schema.js"
import { ChatConfig, type ChatSettings } from "./config.js"
import type { PresenceStatus } from "./events.js"
import { ChatHub, type Frame, type HubConnection } from "./hub.js"
import { ChatLimits } from "./limits.js"
import { type ClientFrame, type FrameProblem, parseFrame } from "./protocol.js"
import type { Message, RoomId } from "./schema.js"
import type { NewMessage } from "./repo.js"
import { Chat } from "./service.js"

type SendFrame = Extract<ClientFrame, { readonly type: "send" }>

/** The purpose of the short-lived tokens `POST /chat/token` issues. */
export const CHAT_TOKEN_PURPOSE = "chat"

/** Close codes of SPEC §5, and ours for the cases it leaves open. */
export const CloseCode = {
  goingAway: 1001,
  internalError: 1011,
  noPong: 4000,
  unauthorized: 4001,
  banned: 4003,
  slowConsumer: 4008,
  tooManyConnections: 4009,
  rateLimited: 4029
} as const

/** Above this many bytes waiting in the socket, frames wait in the mailbox instead. */
const SOCKET_HIGH_WATER = 256 * 1024
const SLOW_CONSUMER_HANDSHAKE_MS = 30_000
/** A burst this long is written at once rather than at the end of the event-loop turn. */
const FLUSH_AT_FRAMES = 64
/** At most this many waiting sends are stored in one statement (fewer with a small mailbox: `takeSendRun`). */
const MAX_SEND_RUN = 64
/** Rate-limit strikes within this window that close the connection. */
const STRIKE_WINDOW_MS = 10_000
/** Rooms up to this size list their members' presence in `joined`. */
const PRESENCE_IN_JOIN_MAX = 200

/**
 * One scheduler runner for every connection fiber. Effect gives each fiber
 * its own runner (kept while the fiber lives, ~250 B) so that the
 * AsyncLocalStorage contexts of concurrent runs stay apart; connection fibers
 * use none, and thousands of them sit idle. Same draining as Effect's default
 * scheduler: microtasks, then a timer every 2048 rounds.
 */
const connectionRunner = new Scheduler.SchedulerRunner((depth, drain) => {
  if (depth >= 2048) setTimeout(() => drain(0), 0)
  else void Promise.resolve().then(() => drain(depth + 1))
})
const connectionScheduler = Scheduler.make((task, priority) => connectionRunner.scheduleTask(task, priority))

const unset = FiberRefs.empty()

/**
 * The runtime connection fibers start from: each fiber ref's current value
 * only, and no entry for the context nor for refs still at their initial
 * value. A fiber ref keeps the history of the fibers that set it (for
 * merging a joined child back), and a fiber started from a runtime sets the
 * context ref on top of that history, in an array that spreading leaves with
 * room for 17 (~170 B in every connection fiber); with no entry, the fiber's
 * context is a one-element array. And every fiber copies the map of entries:
 * four fit its smallest table, five take one of ~270 B. Connection fibers
 * are never joined into another, so they need values, not history.
 */
const currentValuesOnly = Effect.fiberIdWith((id) =>
  Effect.map(Effect.runtime<never>(), (runtime) => {
    const refs = Array.from(FiberRefs.fiberRefs(runtime.fiberRefs)).filter(
      (ref) => ref !== FiberRef.currentContext && FiberRefs.getOrDefault(runtime.fiberRefs, ref) !== FiberRefs.getOrDefault(unset, ref)
    )
    return Runtime.make({
      context: runtime.context,
      runtimeFlags: runtime.runtimeFlags,
      fiberRefs: FiberRefs.unsafeMake(new Map(refs.map((ref) => [ref, [[id, FiberRefs.getOrDefault(runtime.fiberRefs, ref)]] as const])))
    })
  })
)

interface Subscription {
  joined: boolean
  lastSeq: number
  dm: boolean
  /** Lapses the connection's typing in this room; set while it types. */
  typing: NodeJS.Timeout | undefined
  /** Events that arrived while the join was reading the room. */
  readonly early: Array<{ readonly message?: Message; readonly frame: Frame; readonly durable: boolean }>
}

type Inbound = { readonly text: string } | { readonly problem: FrameProblem }

/**
 * What every connection shares with the gateway. One object for all, so that
 * an idle connection holds one reference rather than a closure per callback.
 */
interface ConnectionHost {
  readonly settings: ChatSettings
  /** A frame from the client, before the rate limit and the inbox. */
  readonly frameReceived: (connection: Connection, data: WS.RawData, isBinary: boolean) => void
  readonly forkWriter: (writer: Effect.Effect<void>) => void
  readonly scheduleFlush: (connection: Connection) => void
  readonly dropped: (reason: "ephemeral" | "slow_consumer") => void
  /** A DM message reached a recipient's connection. */
  readonly delivered: (connection: Connection, room: RoomId, message: Message) => void
  readonly membershipChanged: (connection: Connection, room: RoomId, change: "added" | "removed", reason: string) => void
}

const noMoreInbound: Effect.Effect<Inbound | undefined> = Effect.succeed(undefined)

/**
 * The gateway's sockets (`WebSocketServer`'s `WebSocket` option). Their
 * events reach their connection from `emit` rather than through listeners:
 * four event names grow a socket's listener map to a ~260 B dictionary, and
 * no listener leaves it at its initial size. Listeners added otherwise (the
 * end of a connection waits for 'close') are still called.
 */
class ChatSocket extends WS.WebSocket {
  /** Unset once the connection is released: later events are ignored. */
  connection: Connection | undefined

  override emit(event: string | symbol, ...args: Array<any>): boolean {
    const c = this.connection
    switch (event) {
      case "message":
        c?.host.frameReceived(c, args[0], args[1])
        break
      case "pong":
        if (c !== undefined) c.pingSentAt = 0
        break
      case "close":
        c?.socketClosed()
        break
      case "error":
        // The close that follows ends the connection; with no listener, an emitted error would throw.
        return true
    }
    return super.emit(event, ...args)
  }
}

/**
 * One WebSocket connection: its inbox of client frames, its mailbox of
 * frames for the client, its rooms and its heartbeat state. The connection's
 * fiber reads the inbox; frames for the client are written at once while the
 * socket keeps up and otherwise wait in the mailbox (bounded in frames and
 * bytes) for a writer fiber, which exists only while there is a backlog.
 * Ephemeral frames are dropped first, and the connection is closed 4008 when
 * durable ones no longer fit, so one slow reader never holds up a room.
 *
 * Thousands sit idle at once, so an idle one is kept small: no per-connection
 * closures or socket listeners, its room map made on the first join, and its
 * inbox and mailbox arrays made on first use and dropped by the heartbeat
 * sweep once empty (`compact`).
 */
class Connection implements HubConnection {
  readonly sessionId = NodeCrypto.randomUUID()
  userId = "" as UserId
  actor: Actor | undefined
  /** Registered with the hub: its rooms and its place in the user's connections are released at the end. */
  admitted = false
  presence: PresenceStatus = "online"
  private rooms: Map<RoomId, Subscription> | undefined
  closing = false
  closed = false
  /** When the unanswered ping went out (0: none outstanding), and when the last one did. */
  pingSentAt = 0
  lastPingAt = Date.now()
  strikes: Array<number> | undefined
  framesBeforeReady = 0
  /** The token the upgrade request carried, if any; handed over once (`takeOfferedToken`) so that it is not kept. */
  private offered: string | undefined
  /** Made on the first frame and dropped again by `compact` once empty: most connections are idle, and an array is 32 B. */
  private inbox: Array<Inbound> | undefined
  private wakeReader: ((next: Effect.Effect<Inbound | undefined>) => void) | undefined
  /** Made on the first frame and dropped again by `compact` once empty, as the inbox. */
  private queue: Array<{ readonly frame: Frame; readonly durable: boolean }> | undefined
  private queuedBytes = 0
  private writing = false
  private flushPending = false
  private wakeWriter: (() => void) | undefined

  constructor(
    readonly ws: ChatSocket,
    readonly host: ConnectionHost,
    offered: string | undefined
  ) {
    this.offered = offered
  }

  takeOfferedToken() {
    const token = this.offered
    this.offered = undefined
    return token
  }

  // ---- rooms ----

  subscription(room: RoomId): Subscription | undefined {
    return this.rooms?.get(room)
  }

  subscribed(room: RoomId, sub: Subscription) {
    ;(this.rooms ??= new Map()).set(room, sub)
  }

  unsubscribed(room: RoomId) {
    this.rooms?.delete(room)
  }

  roomIds(): Array<RoomId> {
    return this.rooms === undefined ? [] : [...this.rooms.keys()]
  }

  socketClosed() {
    this.closed = true
    this.wakeUpReader()
  }

  // ---- inbox: client frames, read by the connection's fiber in order ----

  receive(item: Inbound) {
    ;(this.inbox ??= []).push(item)
    this.wakeUpReader()
  }

  wakeUpReader() {
    const wake = this.wakeReader
    this.wakeReader = undefined
    wake?.(Effect.suspend(() => this.nextInbound()))
  }

  /**
   * The next client frame; undefined once the connection is closing or
   * closed. The wait has no canceller: an interrupted wait's resume is
   * ignored by the fiber, and the next wake replaces it.
   */
  nextInbound(): Effect.Effect<Inbound | undefined> {
    if (this.closing || this.closed) return noMoreInbound
    const item = this.inbox?.shift()
    if (item !== undefined) return Effect.succeed(item)
    return Effect.async<Inbound | undefined>((resume) => {
      this.wakeReader = resume
    })
  }

  /** The next client frame already waiting, taken only when `wanted` accepts it (and answers it parsed). */
  takeWaiting<A>(wanted: (text: string) => A | undefined): A | undefined {
    const item = this.inbox?.[0]
    if (item === undefined || !("text" in item) || this.closing || this.closed) return undefined
    const taken = wanted(item.text)
    if (taken !== undefined) this.inbox!.shift()
    return taken
  }

  /** Gives back an idle connection's emptied arrays (an emptied array keeps its capacity). */
  compact() {
    if (this.inbox?.length === 0) this.inbox = undefined
    if (this.queue?.length === 0 && !this.writing) this.queue = undefined
  }

  // ---- mailbox: frames for the client ----

  /** Whether one more frame of `bytes` fits beside what is queued; a lone frame always does (a large replay, say). */
  private fits(bytes: number, share: number) {
    const settings = this.host.settings
    const queued = this.queue?.length ?? 0
    return queued === 0 || (queued < settings.mailboxFrames * share && this.queuedBytes + bytes <= settings.mailboxBytes * share)
  }

  send(frame: Frame, durable: boolean) {
    if (this.closed) return
    const bytes = frame.length
    // What waits for the end of this turn is not a backlog yet: written now, if the socket takes it, it makes room.
    if (!this.writing && !this.fits(bytes, durable ? 1 : 0.5)) this.flush()
    if (!durable) {
      if (!this.fits(bytes, 0.5)) {
        this.host.dropped("ephemeral")
        return
      }
    } else if (!this.fits(bytes, 1)) {
      this.evictEphemeral()
      if (!this.fits(bytes, 1)) {
        this.host.dropped("slow_consumer")
        this.close(CloseCode.slowConsumer, "slow consumer: rejoin with since_seq", SLOW_CONSUMER_HANDSHAKE_MS)
        return
      }
    }
    const queue = (this.queue ??= [])
    queue.push({ frame, durable })
    this.queuedBytes += bytes
    if (this.writing) return
    if (queue.length >= FLUSH_AT_FRAMES) this.flush()
    else if (!this.flushPending) {
      this.flushPending = true
      this.host.scheduleFlush(this)
    }
  }

  /**
   * Writes what the mailbox holds while the socket keeps up, in one corked
   * batch (one syscall for a burst); a backlog is left to the writer fiber.
   * Runs once per event-loop turn for every connection that got frames.
   */
  flush() {
    this.flushPending = false
    const queue = this.queue
    if (this.closed || this.writing || queue === undefined || queue.length === 0) return
    const socket = (this.ws as unknown as { _socket: { cork(): void; uncork(): void } | null })._socket
    socket?.cork()
    while (queue.length > 0 && this.ws.bufferedAmount < SOCKET_HIGH_WATER) {
      const entry = queue.shift()!
      this.queuedBytes -= entry.frame.length
      this.write(entry.frame)
    }
    socket?.uncork()
    if (queue.length > 0) {
      this.writing = true
      this.host.forkWriter(this.writer(queue))
    }
  }

  /** Replies are strings; fan-out frames arrive framed once for every recipient. */
  private write(frame: Frame) {
    if (typeof frame === "string") this.ws.send(frame)
    else writePreFramed(this.ws, frame)
  }

  private evictEphemeral() {
    const queue = this.queue ?? []
    const kept = queue.filter((entry) => entry.durable)
    for (let i = kept.length; i < queue.length; i++) this.host.dropped("ephemeral")
    // In place: a writer may be draining this array.
    queue.length = 0
    queue.push(...kept)
    this.queuedBytes = kept.reduce((sum, entry) => sum + entry.frame.length, 0)
  }

  /**
   * The writer fiber, built when a client lags (most never do): sends the backlog as the socket drains, then ends.
   * The mailbox array is kept while it runs (`compact` waits for it).
   */
  private writer(queue: Array<{ readonly frame: Frame; readonly durable: boolean }>): Effect.Effect<void> {
    return Effect.gen(this, function* () {
      while (queue.length > 0 && !this.closed) {
        if (this.ws.bufferedAmount >= SOCKET_HIGH_WATER) {
          yield* this.socketDrained()
          continue
        }
        while (queue.length > 0 && this.ws.bufferedAmount < SOCKET_HIGH_WATER) {
          const entry = queue.shift()!
          this.queuedBytes -= entry.frame.length
          this.write(entry.frame)
        }
      }
    }).pipe(
      Effect.ensuring(
        Effect.sync(() => {
          this.writing = false
        })
      )
    )
  }

  private socketDrained(): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      const socket = (this.ws as unknown as { _socket?: NodeJS.EventEmitter })._socket
      const done = () => {
        clearTimeout(timer)
        socket?.off("drain", done)
        this.wakeWriter = undefined
        resume(Effect.void)
      }
      // Closing also wakes the writer; the timer covers a socket that never says drain.
      const timer = setTimeout(done, 50)
      socket?.once("drain", done)
      this.wakeWriter = done
      return Effect.sync(() => {
        clearTimeout(timer)
        socket?.off("drain", done)
      })
    })
  }

  /** Waits for the writer to send what is queued, then closes; used on shutdown. */
  flushAndClose(code: number, reason: string) {
    return Effect.gen(this, function* () {
      while ((this.queue?.length ?? 0) > 0 && !this.closed) yield* Effect.sleep(10)
      this.close(code, reason)
    })
  }

  /**
   * The close frame goes out after what the socket already holds; a peer that
   * never completes the handshake is cut after `handshakeMs`. A slow reader
   * gets longer, so that it can still read its way to the 4008.
   */
  close(code: number, reason: string, handshakeMs = 5_000) {
    if (this.closed) return
    // What was queued for this turn (an error frame saying why, say) goes out before the close frame;
    // a slow consumer's backlog does not.
    if (code !== CloseCode.slowConsumer && !this.writing) this.flush()
    this.closed = true
    if (this.queue !== undefined) this.queue.length = 0
    this.queuedBytes = 0
    const wake = this.wakeWriter
    this.wakeWriter = undefined
    wake?.()
    this.wakeUpReader()
    this.ws.close(code, reason)
    setTimeout(() => this.ws.terminate(), handshakeMs).unref()
  }

  // ---- what the hub delivers ----

  deliverMessage(room: RoomId, message: Message, frame: Frame) {
    const sub = this.rooms?.get(room)
    if (sub === undefined) return
    if (!sub.joined) {
      sub.early.push({ message, frame, durable: true })
      return
    }
    if (message.seq <= sub.lastSeq) return
    sub.lastSeq = message.seq
    this.send(frame, true)
    if (sub.dm && message.sender_id !== this.userId) this.host.delivered(this, room, message)
  }

  deliverFrame(room: RoomId, frame: Frame, durable: boolean) {
    const sub = this.rooms?.get(room)
    if (sub === undefined) return
    if (!sub.joined) sub.early.push({ frame, durable })
    else this.send(frame, durable)
  }

  /** Told by any node: the user was banned (4003), or their sessions ended (4001). */
  disconnect(reason: string) {
    this.close(reason === "banned" ? CloseCode.banned : CloseCode.unauthorized, reason)
  }

  membershipChanged(room: RoomId, change: "added" | "removed", reason: string) {
    this.host.membershipChanged(this, room, change, reason)
  }
}

export class ChatGateway extends Context.Tag("veza/ChatGateway")<ChatGateway, WebSocketEndpoint>() {}

/**
 * `/ws`: the `ws` server inside this layer's scope and one supervised fiber
 * per connection (authentication, then its frames in order), with a writer
 * fiber while a client lags. One sweep pings every connection and closes
 * those that stopped answering. Closing the scope flushes every mailbox and
 * closes with 1001.
 */
export const ChatGatewayLive = Layer.scoped(
  ChatGateway,
  Effect.gen(function* () {
    const settings = yield* ChatConfig
    const chat = yield* Chat
    const hub = yield* ChatHub
    const limits = yield* ChatLimits
    const authenticator = yield* Authenticator
    const metrics = yield* Metrics
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)

    const framesDropped = metrics.counter("veza_chat_frames_dropped_total", "Frames not delivered to a slow client", ["reason"])
    const connectionsOpened = metrics.counter("veza_chat_connections_total", "WebSocket chat connections by outcome", ["outcome"])
    const messagesSent = metrics.counter("veza_chat_messages_total", "Chat messages stored and fanned out")
    const live = new Set<Connection>()
    const deliveredSent = new Set<string>()
    metrics.gauge("veza_chat_connections_open", "Chat WebSocket connections open on this node, authenticated or not yet", () => live.size)
    metrics.gauge("veza_chat_rate_buckets", "Users with a message-rate bucket on this node", limits.localUsers)

    const server = yield* Effect.acquireRelease(
      Effect.sync(() => new WS.WebSocketServer({ noServer: true, maxPayload: settings.maxFrameBytes, clientTracking: false, WebSocket: ChatSocket })),
      (wss) => Effect.async<void>((resume) => wss.close(() => resume(Effect.void)))
    )
    const fibers = yield* FiberSet.make()
    const startFiber = Runtime.runFork(yield* currentValuesOnly.pipe(Effect.withScheduler(connectionScheduler)))
    const run = <A, E>(effect: Effect.Effect<A, E>) => {
      const fiber = startFiber(effect)
      FiberSet.unsafeAdd(fibers, fiber)
      return fiber
    }
    const forkWriter = (writer: Effect.Effect<void>) => {
      run(writer)
    }
    // Frames for clients are written once per event-loop turn, every connection's batch at once.
    const toFlush: Array<Connection> = []
    const flushAll = () => {
      for (const c of toFlush.splice(0)) c.flush()
    }
    const scheduleFlush = (c: Connection) => {
      if (toFlush.push(c) === 1) setImmediate(flushAll)
    }
    const countDropped = (reason: "ephemeral" | "slow_consumer") => framesDropped.inc({ reason })

    const reply = (c: Connection, type: string, ref: unknown, body: Record<string, unknown>, durable = true) =>
      c.send(JSON.stringify(ref === undefined ? { type, ...body } : { type, ref, ...body }), durable)
    const fail = (c: Connection, ref: unknown, code: string, message: string, extra: Record<string, unknown> = {}) =>
      reply(c, "error", ref, { code, message, ...extra })

    const rateLimited = ({ c, text }: { readonly c: Connection; readonly text: string }, wait: number) => {
      if (c.closed || c.closing) return
      const now = Date.now()
      c.strikes = (c.strikes ?? []).filter((at) => now - at < STRIKE_WINDOW_MS)
      c.strikes.push(now)
      if (c.strikes.length > settings.rateBurst) return c.close(CloseCode.rateLimited, "rate limit exceeded")
      const parsed = parseFrame(text)
      const ref = "frame" in parsed ? parsed.frame.ref : parsed.problem.ref
      fail(c, ref, "RATE_LIMITED", "too many frames; slow down", { retry_after_ms: wait })
    }

    const subscribe = (c: Connection, room: RoomId) => {
      const sub: Subscription = { joined: false, lastSeq: 0, dm: false, typing: undefined, early: [] }
      c.subscribed(room, sub)
      return Effect.as(hub.subscribe(room, c), sub)
    }

    const finishJoin = (c: Connection, room: RoomId, sub: Subscription, lastSeq: number) =>
      Effect.gen(function* () {
        sub.lastSeq = Math.max(sub.lastSeq, lastSeq)
        yield* hub.seqKnown(room, lastSeq)
        sub.joined = true
        for (const early of sub.early.splice(0)) {
          if (early.message !== undefined) c.deliverMessage(room, early.message, early.frame)
          else c.send(early.frame, early.durable)
        }
      })

    const stopTyping = (c: Connection, room: RoomId, sub: Subscription | undefined) =>
      Effect.suspend(() => {
        if (sub?.typing === undefined) return Effect.void
        clearTimeout(sub.typing)
        sub.typing = undefined
        return hub.publish({ kind: "room", room, durable: false, skipUser: c.userId, frame: { type: "typing", room_id: room, user_id: c.userId, state: "stop" } })
      })

    const unsubscribe = (c: Connection, room: RoomId) =>
      Effect.gen(function* () {
        const sub = c.subscription(room)
        c.unsubscribed(room)
        yield* stopTyping(c, room, sub)
        yield* hub.unsubscribe(room, c)
      })

    /**
     * Joins the connection to the room and replays what it missed after
     * `sinceSeq`. The subscription starts before the room is read, and events
     * that arrive meanwhile wait in it, so nothing falls between the replay
     * and live delivery (seqs deduplicate the overlap).
     */
    const join = (c: Connection, actor: Actor, room: RoomId, sinceSeq: number | undefined, ref: unknown) =>
      Effect.gen(function* () {
        const existing = c.subscription(room)
        const sub = existing ?? (yield* subscribe(c, room))
        sub.joined = false
        const opened = yield* chat
          .open(actor, room, sinceSeq)
          .pipe(Effect.tapError(() => (existing === undefined ? unsubscribe(c, room) : finishJoin(c, room, sub, sub.lastSeq))))
        sub.dm = opened.room.type === "dm"
        const members = opened.room.member_count <= PRESENCE_IN_JOIN_MAX ? yield* chat.memberIdsOf(room).pipe(Effect.orElseSucceed(() => [])) : []
        reply(c, "joined", ref, {
          room_id: room,
          room: opened.room,
          last_seq: opened.lastSeq,
          recovered: opened.recovered,
          messages: opened.messages,
          presence: hub.presenceOf(members)
        })
        yield* finishJoin(c, room, sub, opened.lastSeq)
      })

    const typing = (c: Connection, room: RoomId, sub: Subscription, state: "start" | "stop") =>
      Effect.gen(function* () {
        if (state === "stop") return yield* stopTyping(c, room, sub)
        const already = sub.typing
        if (already !== undefined) clearTimeout(already)
        // Typing lapses by itself: a client that vanishes mid-sentence does not type forever.
        sub.typing = setTimeout(() => runFork(stopTyping(c, room, sub)), settings.typingTimeoutMs)
        if (already === undefined) {
          yield* hub.publish({ kind: "room", room, durable: false, skipUser: c.userId, frame: { type: "typing", room_id: room, user_id: c.userId, state: "start" } })
        }
      })

    /** Tells a DM's sender (once per message and recipient on this node) that it reached a recipient's connection. */
    const delivered = (c: Connection, room: RoomId, message: Message) => {
      const key = `${message.id}:${c.userId}`
      if (deliveredSent.has(key)) return
      deliveredSent.add(key)
      if (deliveredSent.size > 10_000) deliveredSent.delete(deliveredSent.values().next().value!)
      runFork(
        hub.publish({
          kind: "room",
          room,
          durable: true,
          skipUser: c.userId,
          frame: { type: "delivered", room_id: room, message_id: message.id, seq: message.seq, user_id: c.userId }
        })
      )
    }

    /**
     * The send and the sends for the same room waiting behind it, to be stored
     * together: at most an eighth of a mailbox (frames and bytes), since the
     * sender gets an ack and its own message back for each in one turn.
     */
    const runFrames = Math.max(1, Math.min(MAX_SEND_RUN, Math.floor(settings.mailboxFrames / 8)))
    const runBytes = settings.mailboxBytes / 8
    const takeSendRun = (c: Connection, first: SendFrame, firstBytes: number) => {
      const run = [first]
      const clientIds = new Set([first.client_id])
      let bytes = firstBytes
      const sameRoomSend = (text: string) => {
        if (bytes + text.length > runBytes) return undefined
        const parsed = parseFrame(text)
        if (!("frame" in parsed) || parsed.frame.type !== "send" || parsed.frame.room_id !== first.room_id || clientIds.has(parsed.frame.client_id)) return undefined
        bytes += text.length
        return parsed.frame
      }
      for (let next: SendFrame | undefined; run.length < runFrames && (next = c.takeWaiting(sameRoomSend)) !== undefined; ) {
        run.push(next)
        clientIds.add(next.client_id)
      }
      return run
    }

    /**
     * Stores a run of sends in one statement (`Chat.sendMany`); each frame still gets its own ack or error, in order.
     * A chain of effects rather than a generator: it runs for every send.
     */
    const sendRun = (c: Connection, actor: Actor, run: ReadonlyArray<SendFrame>) => {
      const room = run[0]!.room_id
      const inputs = run.map((f): NewMessage => ({ clientId: f.client_id, content: f.content, replyTo: f.reply_to ?? null }))
      return Effect.flatMap(chat.sendMany(actor, room, inputs), (results) => {
        for (let i = 0; i < results.length; i++) {
          const result = results[i]!
          const frame = run[i]!
          if (Either.isLeft(result)) fail(c, frame.ref, result.left.code, result.left.message)
          else {
            if (result.right.created) messagesSent.inc()
            reply(c, "ack", frame.ref, { client_id: frame.client_id, message: result.right.message })
          }
        }
        return stopTyping(c, room, c.subscription(room))
      })
    }

    /** Every frame but `send`, which goes in runs (`takeSendRun`, `sendRun`). */
    const handle = (c: Connection, actor: Actor, frame: Exclude<ClientFrame, SendFrame>): Effect.Effect<void, unknown> => {
      const ref = frame.ref
      switch (frame.type) {
        case "authenticate":
          return Effect.sync(() => fail(c, ref, "ALREADY_AUTHENTICATED", "this connection is already authenticated"))
        case "join":
          return join(c, actor, frame.room_id, frame.since_seq, ref)
        case "leave":
          return Effect.gen(function* () {
            if (c.subscription(frame.room_id) === undefined) return fail(c, ref, "NOT_JOINED", "this connection has not joined that room")
            yield* unsubscribe(c, frame.room_id)
            reply(c, "left", ref, { room_id: frame.room_id, reason: "left" })
          })
        case "edit":
          return Effect.map(chat.edit(actor, frame.message_id, frame.content), (message) => reply(c, "message_edited", ref, { message }))
        case "delete":
          return Effect.map(chat.remove(actor, frame.message_id), (message) =>
            reply(c, "message_deleted", ref, { room_id: message.room_id, message_id: message.id, seq: message.seq, deleted_by: actor.id })
          )
        case "react":
        case "unreact": {
          const add = frame.type === "react"
          return Effect.map(chat.react(actor, frame.message_id, frame.emoji, add), (message) =>
            reply(c, add ? "reaction_added" : "reaction_removed", ref, { room_id: message.room_id, message_id: message.id, user_id: actor.id, emoji: frame.emoji })
          )
        }
        case "typing": {
          const sub = c.subscription(frame.room_id)
          if (sub?.joined !== true) return Effect.sync(() => fail(c, ref, "NOT_JOINED", "join the room first"))
          return typing(c, frame.room_id, sub, frame.state)
        }
        case "read":
          return Effect.map(chat.read(actor, frame.room_id, frame.message_id), () =>
            reply(c, "read_receipt", ref, { room_id: frame.room_id, user_id: actor.id, message_id: frame.message_id })
          )
        case "history":
          return Effect.map(chat.history(actor, frame.room_id, frame.before_seq, frame.limit ?? 50), (page) =>
            reply(c, "history", ref, { room_id: frame.room_id, messages: page.items, has_more: page.has_more })
          )
        case "presence":
          return Effect.gen(function* () {
            c.presence = frame.status
            yield* hub.presenceUpdated(c.userId)
            reply(c, "presence", ref, { user_id: c.userId, status: frame.status })
          })
        case "dm_open":
          return Effect.flatMap(chat.openDm(actor, frame.user_id), (room) => join(c, actor, room.id, undefined, ref))
        case "ping":
          return Effect.sync(() => reply(c, "pong", ref, { ts: frame.ts ?? null, server_time: new Date().toISOString() }))
      }
    }

    /** Service failures are the API's tagged errors; they become error frames with the same codes. */
    const reportFailure = (c: Connection, ref: unknown) => (error: unknown) =>
      Effect.gen(function* () {
        const e = error as { readonly _tag?: string; readonly code?: string; readonly message?: string }
        if (typeof e?.code === "string" && typeof e.message === "string" && e._tag !== undefined) {
          fail(c, ref, e.code, e.message)
          return
        }
        yield* Effect.logError("chat frame failed", error)
        fail(c, ref, "INTERNAL_ERROR", "the server could not handle this frame; retry")
      })

    // An access token or a chat token, told apart by their audience in one verification.
    const authenticate = (token: string) => Effect.option(authenticator.authenticate(token, [undefined, CHAT_TOKEN_PURPOSE]))

    const queryToken = (url: string | undefined) => {
      const query = url?.split("?")[1]
      return query === undefined ? undefined : (new URLSearchParams(query).get("token") ?? undefined)
    }

    const membershipChanged = (c: Connection, room: RoomId, change: "added" | "removed", reason: string) => {
      if (c.actor === undefined) return
      if (change === "removed" && c.subscription(room) !== undefined) {
        runFork(Effect.zipRight(unsubscribe(c, room), Effect.sync(() => reply(c, "left", undefined, { room_id: room, reason }))))
      } else if (change === "added" && reason === "dm_opened" && c.subscription(room) === undefined) {
        c.receive({ text: JSON.stringify({ type: "join", room_id: room }) })
      }
    }

    const frameReceived = (c: Connection, data: WS.RawData, isBinary: boolean) => {
      if (c.closed || c.closing) return
      if (isBinary) return c.receive({ problem: { code: "BAD_FRAME", message: "frames must be JSON text, not binary" } })
      const text = data.toString()
      if (c.actor !== undefined) return takeToken(c.userId, { c, text })
      else if (++c.framesBeforeReady > settings.rateBurst) {
        // Frames sent ahead of authentication wait for it, but only a burst's worth.
        return c.close(CloseCode.rateLimited, "too many frames before authentication")
      }
      c.receive({ text })
    }

    const host: ConnectionHost = { settings, frameReceived, forkWriter, scheduleFlush, dropped: countDropped, delivered, membershipChanged }

    // The user's token bucket, on this node or shared by every node (limits.ts); its answer may come after a round trip to Redis.
    const takeToken = limits.gate<{ readonly c: Connection; readonly text: string }>(({ c, text }) => {
      if (!c.closed && !c.closing) c.receive({ text })
    }, rateLimited)

    /** Authentication at the upgrade (header or ?token=) or by the first frame within the timeout, then the connection cap. */
    const admit = (c: Connection) =>
      Effect.gen(function* () {
        const offered = c.takeOfferedToken()
        let actor: Option.Option<Actor> = Option.none()
        if (offered !== undefined) actor = yield* authenticate(offered)
        else {
          const first = yield* c.nextInbound().pipe(Effect.timeout(settings.authTimeoutMs), Effect.option)
          if (Option.isSome(first) && first.value !== undefined && "text" in first.value) {
            const parsed = parseFrame(first.value.text)
            if ("frame" in parsed && parsed.frame.type === "authenticate") actor = yield* authenticate(parsed.frame.token)
          }
        }
        if (Option.isNone(actor)) {
          connectionsOpened.inc({ outcome: "unauthorized" })
          fail(c, undefined, "UNAUTHORIZED", offered === undefined ? "authenticate within the time allowed: send {type: \"authenticate\", token}" : "missing, invalid or expired token")
          c.close(CloseCode.unauthorized, "unauthorized")
          return undefined
        }
        c.actor = actor.value
        c.userId = actor.value.id
        // The cap across nodes (with Redis), then on this node.
        const counted = yield* limits.open(c.userId, c.sessionId)
        if (!counted || !(yield* hub.register(c, settings.maxConnectionsPerUser))) {
          if (counted) yield* limits.close(c.userId, c.sessionId)
          connectionsOpened.inc({ outcome: "too_many" })
          fail(c, undefined, "TOO_MANY_CONNECTIONS", `at most ${settings.maxConnectionsPerUser} connections per user`)
          c.close(CloseCode.tooManyConnections, "too many connections")
          return undefined
        }
        c.admitted = true
        connectionsOpened.inc({ outcome: "accepted" })
        reply(c, "ready", undefined, { user_id: c.userId, session_id: c.sessionId, server_time: new Date().toISOString(), heartbeat_ms: settings.heartbeatMs })
        c.lastPingAt = Date.now()
        return actor.value
      })

    const handleInbound = (c: Connection, actor: Actor, next: Inbound): Effect.Effect<void> => {
      if ("problem" in next) return Effect.sync(() => fail(c, next.problem.ref, next.problem.code, next.problem.message))
      const parsed = parseFrame(next.text)
      if ("problem" in parsed) return Effect.sync(() => fail(c, parsed.problem.ref, parsed.problem.code, parsed.problem.message))
      const frame = parsed.frame
      if (frame.type !== "send") return answered(c, handle(c, actor, frame), [frame])
      const run = takeSendRun(c, frame, next.text.length)
      return answered(c, sendRun(c, actor, run), run)
    }

    /**
     * A failure of the frames' work becomes an error frame for each of them,
     * and the connection goes on, as a server answers 500 and serves the next request.
     */
    const answered = (c: Connection, work: Effect.Effect<void, unknown>, frames: ReadonlyArray<ClientFrame>) =>
      work.pipe(
        // A connection that died mid-transaction fails its ROLLBACK, which @effect/sql
        // turns into a defect: still the database being away (DATABASE_UNAVAILABLE), not a bug.
        Effect.catchAllDefect((defect) => Effect.fail(Option.getOrElse(unavailableError(defect), () => defect))),
        Effect.catchAll((error) => Effect.forEach(frames, (f) => reportFailure(c, f.ref)(error), { discard: true }))
      )

    /** After the last frame: on shutdown the mailbox is flushed before the 1001; either way the socket is seen closed. */
    const finish = (c: Connection): Effect.Effect<void> =>
      Effect.zipRight(
        c.closing && !c.closed ? c.flushAndClose(CloseCode.goingAway, "server shutting down") : Effect.void,
        Effect.async<void>((resume) => {
          if (c.ws.readyState === WS.WebSocket.CLOSED) return resume(Effect.void)
          c.ws.once("close", () => resume(Effect.void))
        })
      )

    // A loop of flatMaps rather than a generator: while idle, the fiber holds one continuation, not a suspended generator.
    const serve = (c: Connection, actor: Actor): Effect.Effect<void> =>
      Effect.flatMap(c.nextInbound(), (next) => (next === undefined ? finish(c) : Effect.flatMap(handleInbound(c, actor, next), () => serve(c, actor))))

    const release = (c: Connection) =>
      Effect.suspend(() => {
        live.delete(c)
        c.ws.connection = undefined
        if (!c.admitted) return Effect.void
        return Effect.zipRight(
          Effect.forEach(c.roomIds(), (room) => unsubscribe(c, room), { discard: true }),
          Effect.zipRight(hub.unregister(c), limits.close(c.userId, c.sessionId))
        )
      })

    /**
     * Starts the connection's fiber. Its end is watched from outside rather
     * than by `Effect.ensuring` inside: an idle fiber then holds no finalizer
     * frames on its stack, only its read loop. The release runs as a fiber of
     * the same set, uninterruptibly, so that shutdown waits for it.
     * `offered`: the token the upgrade request carried, if any (the request itself is not kept).
     */
    const connection = (ws: ChatSocket, offered: string | undefined) => {
      const c = new Connection(ws, host, offered)
      live.add(c)
      ws.connection = c
      // Admission runs as a fiber of its own that the connection's fiber awaits: a fiber's stack keeps the
      // capacity of its deepest moment (the token check and the credentials query: ~200 B per connection),
      // and the connection's fiber lives as long as the socket. Awaited, not joined: joining would merge the
      // admission's fiber refs into the connection's (another copied history). Built when the fiber starts,
      // so that the finished admission is not kept beside the running loop.
      const fiber = run(
        Effect.suspend(() => Effect.flatMap(Fiber.await(run(admit(c))), (exit) => Effect.flatMap(exit, (actor) => (actor === undefined ? finish(c) : serve(c, actor)))))
      )
      fiber.addObserver((exit) => {
        if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
          runFork(Effect.logError("chat connection failed", exit.cause))
          // Nothing reads this socket any more: the client must see it closed, not wait on it.
          c.close(CloseCode.internalError, "internal error")
        }
        run(Effect.uninterruptible(release(c)))
      })
    }

    /** Server pings every heartbeat; a client that does not pong within the timeout is closed 4000. */
    const heartbeat = Effect.sync(() => {
      const now = Date.now()
      for (const c of live) {
        if (c.actor === undefined || c.closed) continue
        c.compact()
        if (c.pingSentAt !== 0) {
          if (now - c.pingSentAt >= settings.pongTimeoutMs) c.close(CloseCode.noPong, "no pong")
        } else if (now - c.lastPingAt >= settings.heartbeatMs) {
          c.lastPingAt = now
          c.pingSentAt = now
          try {
            c.ws.ping()
          } catch {
            // Closing already: the close handles it.
          }
        }
      }
    })
    yield* Effect.forkScoped(Effect.repeat(heartbeat, Schedule.spaced(Math.max(10, Math.min(settings.heartbeatMs, settings.pongTimeoutMs) / 4))))

    /** Each connection finishes the frame it is handling, flushes its mailbox and closes 1001. */
    const closeAll = Effect.gen(function* () {
      for (const c of live) {
        c.closing = true
        if (c.actor === undefined) c.close(CloseCode.goingAway, "server shutting down")
        c.wakeUpReader()
      }
      yield* FiberSet.awaitEmpty(fibers).pipe(Effect.timeout("5 seconds"), Effect.ignore, Effect.interruptible)
      for (const c of live) c.ws.terminate()
    })

    const upgrade: WebSocketEndpoint["upgrade"] = (incoming, socket, head) => {
      const offered = bearerToken(incoming.headers.authorization) ?? queryToken(incoming.url)
      server.handleUpgrade(incoming, socket, head, (ws) => connection(ws, offered))
    }
    return { upgrade, closeAll } satisfies WebSocketEndpoint
  })
)
