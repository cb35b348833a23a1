import { Effect, Runtime, Schedule } from "effect"
import { Metrics } from "../platform/metrics.js"
import { preFramedText } from "../platform/websocket-frames.js"
import type { UserId } from "../users/schema.js"
import { ChatBus } from "./bus.js"
import type { ChatEvent, PresenceStatus } from "./events.js"
import type { Message, RoomId } from "./schema.js"
import { Chat } from "./service.js"

/** A frame as written: replies are strings, fan-out frames are framed once (a Buffer) for all recipients. */
export type Frame = string | Buffer

/** What the hub needs of a connection. */
export interface HubConnection {
  readonly userId: UserId
  /** A stored message of a room this connection joined (seq-ordered per room by the hub). */
  readonly deliverMessage: (room: RoomId, message: Message, frame: Frame) => void
  /** Any other frame of a joined room. */
  readonly deliverFrame: (room: RoomId, frame: Frame, durable: boolean) => void
  readonly membershipChanged: (room: RoomId, change: "added" | "removed", reason: string) => void
  readonly disconnect: (reason: string) => void
  /** A frame for the connection itself, whatever rooms it joined. */
  readonly send: (frame: Frame, durable: boolean) => void
  readonly presence: PresenceStatus
}

interface RoomState {
  readonly subscribers: Set<HubConnection>
  /** The next seq to deliver; undefined until a join has read the room's last seq. */
  next: number | undefined
  /** Messages that arrived ahead of a missing seq. */
  readonly ahead: Map<number, Message>
  filling: boolean
}

/** How long a gap in seqs may wait for its message to arrive before it is read from the database. */
const GAP_WAIT_MS = 50
const PRESENCE_BEAT_MS = 10_000
const NODE_EXPIRY_MS = 3 * PRESENCE_BEAT_MS

const messageFrame = (message: Message) => preFramedText(JSON.stringify({ type: "message", message }))

const RANK: Record<PresenceStatus, number> = { offline: 0, away: 1, online: 2 }
const better = (a: PresenceStatus, b: PresenceStatus) => (RANK[b] > RANK[a] ? b : a)

/**
 * This node's side of the chat: which local connections joined which rooms,
 * delivery of bus events to them with messages in seq order (a message
 * published late by another node or fiber is waited for briefly, then read
 * from the database), and presence across nodes.
 */
export class ChatHub extends Effect.Service<ChatHub>()("veza/ChatHub", {
  scoped: Effect.gen(function* () {
    const bus = yield* ChatBus
    const chat = yield* Chat
    const rooms = new Map<RoomId, RoomState>()
    const connectionsByUser = new Map<UserId, Set<HubConnection>>()
    const remotePresence = new Map<string, { seenAt: number; users: Map<UserId, PresenceStatus> }>()
    const announced = new Map<UserId, PresenceStatus>()
    const metrics = yield* Metrics
    metrics.gauge("veza_chat_hub_rooms", "Rooms with subscribers on this node", () => rooms.size)
    metrics.gauge("veza_chat_hub_users", "Users with a registered chat connection on this node", () => connectionsByUser.size)
    metrics.gauge("veza_chat_presence_announced", "Users whose presence this node has announced", () => announced.size)
    const runtime = yield* Effect.runtime<never>()
    const runFork = <A, E>(effect: Effect.Effect<A, E>) => Runtime.runFork(runtime)(Effect.ignoreLogged(effect))

    const stateOf = (room: RoomId) => {
      let state = rooms.get(room)
      if (state === undefined) {
        state = { subscribers: new Set(), next: undefined, ahead: new Map(), filling: false }
        rooms.set(room, state)
      }
      return state
    }

    const deliverInOrder = (room: RoomId, state: RoomState, message: Message) => {
      const frame = messageFrame(message)
      for (const connection of state.subscribers) connection.deliverMessage(room, message, frame)
    }

    const drainAhead = (room: RoomId, state: RoomState) => {
      while (state.next !== undefined) {
        const message = state.ahead.get(state.next)
        if (message === undefined) break
        state.ahead.delete(state.next)
        state.next++
        deliverInOrder(room, state, message)
      }
      if (state.ahead.size > 0 && !state.filling) fillGap(room, state)
    }

    /** Reads what is missing before the earliest waiting message; seqs of deleted messages are skipped. */
    const fillGap = (room: RoomId, state: RoomState) => {
      state.filling = true
      runFork(
        Effect.gen(function* () {
          yield* Effect.sleep(GAP_WAIT_MS)
          if (state.next === undefined || state.ahead.size === 0) return
          const upTo = Math.min(...state.ahead.keys()) - 1
          if (upTo < state.next) return
          const missing = yield* chat.between(room, state.next - 1, upTo)
          for (const message of missing) if (message.seq >= state.next) state.ahead.set(message.seq, message)
          // Whatever is still missing up to there was deleted: its seq is passed over.
          for (let seq = state.next; seq <= upTo; seq++) {
            const message = state.ahead.get(seq)
            state.ahead.delete(seq)
            if (message !== undefined) deliverInOrder(room, state, message)
          }
          state.next = upTo + 1
        }).pipe(
          Effect.ensuring(
            Effect.sync(() => {
              state.filling = false
              drainAhead(room, state)
            })
          )
        )
      )
    }

    const onMessage = (room: RoomId, message: Message) => {
      const state = rooms.get(room)
      if (state === undefined) return
      if (state.next === undefined || message.seq > state.next) {
        state.ahead.set(message.seq, message)
        if (state.next !== undefined && !state.filling) fillGap(room, state)
        return
      }
      if (message.seq < state.next) return
      state.next++
      deliverInOrder(room, state, message)
      drainAhead(room, state)
    }

    const onRoomFrame = (room: RoomId, frame: Frame, durable: boolean, skipUser: UserId | undefined) => {
      const state = rooms.get(room)
      if (state === undefined) return
      for (const connection of state.subscribers) if (connection.userId !== skipUser) connection.deliverFrame(room, frame, durable)
    }

    // ---- presence ----

    // Runs on every connect and disconnect, for users with many connections too: no allocation, and it stops at "online".
    const localStatus = (user: UserId): PresenceStatus => {
      const connections = connectionsByUser.get(user)
      let status: PresenceStatus = "offline"
      if (connections !== undefined) {
        for (const c of connections) {
          status = better(status, c.presence)
          if (status === "online") break
        }
      }
      return status
    }
    const globalStatus = (user: UserId): PresenceStatus => {
      let status = localStatus(user)
      for (const node of remotePresence.values()) status = better(status, node.users.get(user) ?? "offline")
      return status
    }

    /** Tells the user's rooms on this node only (every node does the same for its own subscribers). */
    const deliverPresenceLocally = (user: UserId, status: PresenceStatus) =>
      Effect.gen(function* () {
        if (rooms.size === 0) return
        const roomIds = yield* chat.roomIdsOf(user)
        const frame = preFramedText(JSON.stringify({ type: "presence", user_id: user, status }))
        for (const room of roomIds) onRoomFrame(room, frame, false, user)
      })

    const presenceChanged = (user: UserId) => {
      const status = globalStatus(user)
      if ((announced.get(user) ?? "offline") === status) return
      if (status === "offline") announced.delete(user)
      else announced.set(user, status)
      runFork(deliverPresenceLocally(user, status))
    }

    const snapshot = () =>
      Array.from(connectionsByUser.keys(), (user) => [user, localStatus(user)] as const).filter(([, status]) => status !== "offline")

    const onPresence = (event: Extract<ChatEvent, { kind: "presence" | "presence_snapshot" | "presence_sync" | "node_down" }>) => {
      if (event.node === bus.node) return
      switch (event.kind) {
        case "presence": {
          const node = remotePresence.get(event.node) ?? { seenAt: Date.now(), users: new Map() }
          remotePresence.set(event.node, node)
          node.seenAt = Date.now()
          if (event.status === "offline") node.users.delete(event.user)
          else node.users.set(event.user, event.status)
          presenceChanged(event.user)
          return
        }
        case "presence_snapshot": {
          const previous = remotePresence.get(event.node)?.users ?? new Map<UserId, PresenceStatus>()
          const users = new Map(event.users)
          remotePresence.set(event.node, { seenAt: Date.now(), users })
          for (const user of new Set([...previous.keys(), ...users.keys()])) presenceChanged(user)
          return
        }
        case "presence_sync":
          runFork(bus.publish({ kind: "presence_snapshot", node: bus.node, users: snapshot() }))
          return
        case "node_down":
          forgetNode(event.node)
      }
    }

    const forgetNode = (node: string) => {
      const gone = remotePresence.get(node)
      remotePresence.delete(node)
      if (gone !== undefined) for (const user of gone.users.keys()) presenceChanged(user)
    }

    /** This node's status of each user as last published; a connect or disconnect that leaves it as it was publishes nothing. */
    const published = new Map<UserId, PresenceStatus>()
    const publishOwnPresence = (user: UserId) =>
      Effect.suspend(() => {
        const status = localStatus(user)
        if ((published.get(user) ?? "offline") === status) return Effect.void
        if (status === "offline") published.delete(user)
        else published.set(user, status)
        return Effect.zipRight(
          bus.publish({ kind: "presence", node: bus.node, user, status }),
          Effect.sync(() => presenceChanged(user))
        )
      })

    // ---- bus ----

    yield* bus.listen((event) => {
      switch (event.kind) {
        case "message":
          return onMessage(event.room, event.message)
        case "room":
          return onRoomFrame(event.room, preFramedText(JSON.stringify(event.frame)), event.durable, event.skipUser)
        case "membership": {
          const connections = connectionsByUser.get(event.user)
          if (connections !== undefined) for (const c of connections) c.membershipChanged(event.room, event.change, event.reason)
          return
        }
        case "disconnect": {
          const connections = connectionsByUser.get(event.user)
          if (connections !== undefined) for (const c of [...connections]) c.disconnect(event.reason)
          return
        }
        case "notification": {
          const connections = connectionsByUser.get(event.user)
          if (connections === undefined) return
          // Not durable: a slow reader may miss it, and GET /notifications still lists it.
          const frame = preFramedText(JSON.stringify({ type: "notification", notification: event.notification }))
          for (const c of connections) c.send(frame, false)
          return
        }
        default:
          return onPresence(event)
      }
    })

    yield* bus.publish({ kind: "presence_sync", node: bus.node })
    yield* Effect.forkScoped(
      Effect.gen(function* () {
        yield* bus.publish({ kind: "presence_snapshot", node: bus.node, users: snapshot() })
        const now = Date.now()
        for (const [node, state] of remotePresence) if (now - state.seenAt > NODE_EXPIRY_MS) forgetNode(node)
      }).pipe(Effect.repeat(Schedule.spaced(PRESENCE_BEAT_MS)))
    )
    yield* Effect.addFinalizer(() => bus.publish({ kind: "node_down", node: bus.node }))

    return {
      /** Registers a connection of a user; false when the user already has `max` here. */
      register: (connection: HubConnection, max: number) =>
        Effect.suspend(() => {
          const connections = connectionsByUser.get(connection.userId) ?? new Set()
          if (connections.size >= max) return Effect.succeed(false)
          connections.add(connection)
          connectionsByUser.set(connection.userId, connections)
          return Effect.as(publishOwnPresence(connection.userId), true)
        }),
      unregister: (connection: HubConnection) =>
        Effect.suspend(() => {
          const connections = connectionsByUser.get(connection.userId)
          if (connections === undefined || !connections.delete(connection)) return Effect.void
          if (connections.size === 0) connectionsByUser.delete(connection.userId)
          return publishOwnPresence(connection.userId)
        }),
      presenceUpdated: (user: UserId) => publishOwnPresence(user),
      presenceOf: (users: ReadonlyArray<UserId>) => users.map((user) => ({ user_id: user, status: globalStatus(user) })),
      /** Starts delivering a room's events to the connection (before its join reads the room). */
      subscribe: (room: RoomId, connection: HubConnection) => Effect.sync(() => stateOf(room).subscribers.add(connection)),
      /** The join read the room up to `lastSeq`: messages after it are delivered in order from here. */
      seqKnown: (room: RoomId, lastSeq: number) =>
        Effect.sync(() => {
          const state = rooms.get(room)
          if (state === undefined || state.next !== undefined) return
          state.next = lastSeq + 1
          for (const seq of state.ahead.keys()) if (seq <= lastSeq) state.ahead.delete(seq)
          drainAhead(room, state)
        }),
      unsubscribe: (room: RoomId, connection: HubConnection) =>
        Effect.sync(() => {
          const state = rooms.get(room)
          if (state === undefined) return
          state.subscribers.delete(connection)
          if (state.subscribers.size === 0) rooms.delete(room)
        }),
      publish: bus.publish
    } as const
  })
}) {}

