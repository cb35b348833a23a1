/**
 * The one WebSocket of a signed-in tab (SPEC §5, docs/chat.md): chat frames
 * and live notifications. It authenticates with a short-lived chat token (the
 * access token stays out of URLs), reconnects with backoff, and on every
 * reconnect joins its rooms again with `since_seq` = the last seq it saw, so
 * what was sent while it was away is replayed in order and nothing is lost.
 */
import { call } from "./api.js"
import type { ClientFrame } from "../../src/chat/protocol.js"
import type { Message } from "../../src/chat/schema.js"

export type ConnectionState = "connecting" | "online" | "offline"

/** A chat message as the server writes it (SPEC §5): the server's own schema, encoded. */
export type ChatMessage = typeof Message.Encoded

/** What the client may send (SPEC §5): the schema the gateway decodes with, so a wrong frame fails to compile. */
export type OutboundFrame = typeof ClientFrame.Encoded

export type Frame = { readonly type: string; readonly ref?: string | number } & Record<string, unknown>

type Listener = (frame: Frame) => void

const PING_EVERY_MS = 15_000
const PONG_WITHIN_MS = 8_000

export class Realtime {
  state: ConnectionState = "offline"
  /** When the next reconnect attempt happens (ms since epoch), while offline. */
  retryAt: number | null = null
  private socket: WebSocket | null = null
  private listeners = new Set<Listener>()
  private stateListeners = new Set<(s: ConnectionState) => void>()
  private pending = new Map<string, { resolve: (f: Frame) => void; reject: (e: Error) => void }>()
  private nextRef = 1
  private attempts = 0
  private retryTimer: ReturnType<typeof setTimeout> | null = null
  private pingTimer: ReturnType<typeof setInterval> | null = null
  private pongDeadline: ReturnType<typeof setTimeout> | null = null
  private stopped = true
  /** Rooms this tab follows, with the last seq it has seen in each. */
  readonly rooms = new Map<string, number>()

  start() {
    if (!this.stopped) return
    this.stopped = false
    window.addEventListener("online", this.onOnline)
    window.addEventListener("offline", this.onOffline)
    void this.connect()
  }

  stop() {
    this.stopped = true
    window.removeEventListener("online", this.onOnline)
    window.removeEventListener("offline", this.onOffline)
    this.clearTimers()
    this.socket?.close(1000)
    this.socket = null
    this.rooms.clear()
    this.setState("offline")
  }

  subscribe(listener: Listener) {
    this.listeners.add(listener)
    return () => void this.listeners.delete(listener)
  }

  onState(listener: (s: ConnectionState) => void) {
    this.stateListeners.add(listener)
    return () => void this.stateListeners.delete(listener)
  }

  /** Sends a frame and waits for the reply that echoes its ref (or the error frame). */
  request(frame: OutboundFrame, timeoutMs = 10_000): Promise<Frame> {
    const ref = `r${this.nextRef++}`
    return new Promise((resolve, reject) => {
      if (this.socket === null || this.state !== "online") return reject(new Error("Not connected: the message will be sent when the connection is back."))
      const timer = setTimeout(() => {
        this.pending.delete(ref)
        reject(new Error("The server did not answer in time. Retry."))
      }, timeoutMs)
      this.pending.set(ref, {
        resolve: (f) => {
          clearTimeout(timer)
          resolve(f)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        }
      })
      this.socket.send(JSON.stringify({ ...frame, ref }))
    })
  }

  /** Fire and forget (typing, read receipts, presence). */
  send(frame: OutboundFrame) {
    if (this.socket !== null && this.state === "online") this.socket.send(JSON.stringify(frame))
  }

  /** Joins a room now and after every reconnect, replaying from the last seq seen. */
  async join(roomId: string, lastSeq?: number): Promise<Frame> {
    const known = this.rooms.get(roomId)
    const since = known ?? lastSeq
    this.rooms.set(roomId, since ?? 0)
    return this.request(since === undefined || since === 0 ? { type: "join", room_id: roomId } : { type: "join", room_id: roomId, since_seq: since })
  }

  leave(roomId: string) {
    this.rooms.delete(roomId)
    this.send({ type: "leave", room_id: roomId })
  }

  /** Reconnect now (a "retry" button, or the browser saying it is online again). */
  reconnectNow() {
    if (this.stopped || this.state === "online" || this.state === "connecting") return
    this.attempts = 0
    void this.connect()
  }

  private onOnline = () => this.reconnectNow()

  private onOffline = () => {
    // A dead link may keep the socket "open" for a long time; drop it at once and recover on reconnect.
    this.socket?.close(4000)
    this.dropped()
  }

  private setState(state: ConnectionState) {
    if (this.state === state) return
    this.state = state
    for (const l of this.stateListeners) l(state)
  }

  private clearTimers() {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer)
    if (this.pingTimer !== null) clearInterval(this.pingTimer)
    if (this.pongDeadline !== null) clearTimeout(this.pongDeadline)
    this.retryTimer = this.pingTimer = this.pongDeadline = null
  }

  private async connect() {
    this.clearTimers()
    this.retryAt = null
    this.setState("connecting")
    let token: string
    try {
      token = (await call((c) => c.chat.token())).token
    } catch {
      return this.dropped()
    }
    if (this.stopped) return
    const scheme = location.protocol === "https:" ? "wss:" : "ws:"
    const socket = new WebSocket(`${scheme}//${location.host}/ws?token=${encodeURIComponent(token)}`)
    this.socket = socket
    socket.onmessage = (event) => {
      if (this.socket !== socket) return
      let frame: Frame
      try {
        frame = JSON.parse(String(event.data)) as Frame
      } catch {
        return
      }
      this.handle(frame)
    }
    socket.onclose = () => {
      if (this.socket === socket) this.dropped()
    }
  }

  private dropped() {
    this.socket = null
    this.clearTimers()
    for (const p of this.pending.values()) p.reject(new Error("The connection was lost. Retry when it is back."))
    this.pending.clear()
    if (this.stopped) return
    this.setState("offline")
    if (!navigator.onLine) return // the "online" event reconnects
    const delay = Math.min(10_000, 500 * 2 ** this.attempts) * (0.75 + Math.random() * 0.5)
    this.attempts++
    this.retryAt = Date.now() + delay
    this.retryTimer = setTimeout(() => void this.connect(), delay)
    for (const l of this.stateListeners) l(this.state)
  }

  private handle(frame: Frame) {
    if (frame.type === "ready") {
      this.attempts = 0
      this.setState("online")
      this.pingTimer = setInterval(() => this.ping(), PING_EVERY_MS)
      for (const [room, seq] of this.rooms) {
        const ref = `r${this.nextRef++}`
        this.pending.set(ref, { resolve: () => {}, reject: () => {} })
        this.socket?.send(JSON.stringify(seq > 0 ? { type: "join", room_id: room, since_seq: seq, ref } : { type: "join", room_id: room, ref }))
      }
      this.emit(frame)
      return
    }
    if (frame.type === "pong" && this.pongDeadline !== null) {
      clearTimeout(this.pongDeadline)
      this.pongDeadline = null
    }
    if (frame.type === "message" || frame.type === "ack") this.noteSeq(frame["message"] as ChatMessage | undefined)
    if (frame.type === "joined") this.noteJoined(frame)
    if (frame.type === "history") {
      for (const m of (frame["messages"] as Array<ChatMessage> | undefined) ?? []) this.noteSeq(m)
    }
    const ref = frame.ref === undefined ? undefined : String(frame.ref)
    const waiting = ref === undefined ? undefined : this.pending.get(ref)
    if (waiting !== undefined && ref !== undefined) {
      this.pending.delete(ref)
      if (frame.type === "error") waiting.reject(new Error(String(frame["message"] ?? frame["code"] ?? "error")))
      else waiting.resolve(frame)
      // Replies are events too: a page showing the room wants the ack'd message and the joined replay.
      if (frame.type === "error") return
    }
    this.emit(frame)
  }

  private noteJoined(frame: Frame) {
    const roomId = frame["room_id"] as string | undefined
    if (roomId === undefined) return
    // Joins the server made for us (a DM someone opened) are followed like ours. After `joined` (fresh or replayed) the room is known up to last_seq; later seqs arrive as events.
    this.rooms.set(roomId, Math.max(this.rooms.get(roomId) ?? 0, Number(frame["last_seq"] ?? 0)))
  }

  private noteSeq(m: ChatMessage | undefined) {
    if (m === undefined || !this.rooms.has(m.room_id)) return
    if (m.seq > (this.rooms.get(m.room_id) ?? 0)) this.rooms.set(m.room_id, m.seq)
  }

  private ping() {
    if (this.socket === null || this.pongDeadline !== null) return
    this.socket.send(JSON.stringify({ type: "ping", ts: Date.now() }))
    this.pongDeadline = setTimeout(() => {
      this.socket?.close(4000)
      if (this.socket !== null) this.dropped()
    }, PONG_WITHIN_MS)
  }

  private emit(frame: Frame) {
    for (const l of this.listeners) l(frame)
  }
}

export const realtime = new Realtime()
