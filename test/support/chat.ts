import * as NodeCrypto from "node:crypto"
import { afterAll } from "vitest"
import WebSocket from "ws"
import { http } from "./server.js"

export interface Frame {
  readonly type: string
  readonly ref?: string | number
  readonly [key: string]: any
}

/**
 * A real WebSocket chat client: records every frame, waits for the ones a
 * test expects, and matches replies to requests by `ref`.
 */
export class ChatClient {
  readonly frames: Array<Frame> = []
  readonly closed: Promise<{ code: number; reason: string }>
  private waiters: Array<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }> = []
  private seen = 0
  private refs = 0

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })))
    ws.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as Frame
      this.frames.push(frame)
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(frame)) return true
        w.resolve(frame)
        return false
      })
    })
    ws.on("error", () => {})
  }

  static open(baseUrl: string, options: { token?: string; query?: string; headers?: Record<string, string>; wsOptions?: WebSocket.ClientOptions } = {}) {
    const url = `${baseUrl.replace(/^http/, "ws")}/ws${options.query === undefined ? "" : `?${options.query}`}`
    const headers = { ...options.headers, ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }) }
    const ws = new WebSocket(url, { headers, ...options.wsOptions })
    return new ChatClient(ws)
  }

  /** Opens an authenticated connection and waits for `ready`. */
  static async connect(baseUrl: string, token: string, wsOptions?: WebSocket.ClientOptions) {
    const client = ChatClient.open(baseUrl, wsOptions === undefined ? { token } : { token, wsOptions })
    const ready = await client.next((f) => f.type === "ready")
    return Object.assign(client, { ready })
  }

  send(frame: Record<string, unknown>) {
    this.ws.send(JSON.stringify(frame))
  }

  /** The first frame (received earlier or later) matching, that no earlier `next` took. */
  next(match: (f: Frame) => boolean, timeoutMs = 5_000): Promise<Frame> {
    for (let i = this.seen; i < this.frames.length; i++) {
      if (match(this.frames[i]!)) {
        const frame = this.frames[i]!
        this.frames.splice(i, 1)
        return Promise.resolve(frame)
      }
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(-5))}`)), timeoutMs)
      this.waiters.push({
        match,
        resolve: (f) => {
          clearTimeout(timer)
          this.frames.splice(this.frames.indexOf(f), 1)
          resolve(f)
        }
      })
    })
  }

  /** Sends a frame with a fresh ref and resolves with the reply carrying it (an `error` included). */
  request(frame: Record<string, unknown>, timeoutMs = 5_000) {
    const ref = `r${++this.refs}`
    const reply = this.next((f) => f.ref === ref, timeoutMs)
    this.send({ ...frame, ref })
    return reply
  }

  /** Frames of a type received so far and not taken by `next`. */
  all(type: string) {
    return this.frames.filter((f) => f.type === type)
  }

  close() {
    this.ws.close()
    return this.closed
  }
}

export const newClientId = () => NodeCrypto.randomUUID()

export const createRoom = async (baseUrl: string, token: string, body: Record<string, unknown> = {}) => {
  const res = await http(baseUrl, "POST", "/api/v1/chat/rooms", { token, body: { name: "room", type: "public", ...body } })
  if (res.status !== 201) throw new Error(`room not created: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body as { id: string; [k: string]: unknown }
}

/**
 * Tracks the chat clients a test file opens and terminates them when the file
 * ends. Call it at the top of the file: the hook belongs to the file that
 * registers it.
 */
export const closeAtEnd = () => {
  const clients: Array<ChatClient> = []
  afterAll(() => {
    for (const c of clients) c.ws.terminate()
  })
  return <C extends ChatClient>(client: C) => {
    clients.push(client)
    return client
  }
}

/** The seqs of the `message` frames among these, in the order they came. */
export const seqsOf = (frames: ReadonlyArray<Frame>) => frames.filter((f) => f.type === "message").map((f) => f.message.seq as number)

/** from, from + 1, …, to. */
export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)
