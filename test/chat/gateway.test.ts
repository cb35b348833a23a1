import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { ChatClient, createRoom, newClientId } from "../support/chat.js"
import { freshDatabase } from "../support/database.js"
import { http, type RunningServer, startServer, tempDataDir } from "../support/server.js"

const db = await freshDatabase("chat_gateway")
let server: RunningServer
const clients: Array<ChatClient> = []
const connect = async (token: string) => {
  const client = await ChatClient.connect(server.baseUrl, token)
  clients.push(client)
  return client
}

beforeAll(async () => {
  server = await startServer({ DATABASE_URL: db, DATA_DIR: tempDataDir(), CHAT_RATE_PER_SEC: "200", CHAT_RATE_BURST: "400" })
})
afterAll(() => {
  for (const c of clients) c.ws.terminate()
})

describe("chat gateway: messages", () => {
  it("authenticates at the upgrade, joins, sends, and every member sees the message with its seq", async () => {
    const alice = await registerUser(server.baseUrl)
    const bob = await registerUser(server.baseUrl)
    const room = await createRoom(server.baseUrl, alice.access_token, { name: "general" })
    const a = await connect(alice.access_token)
    expect(a.ready).toMatchObject({ type: "ready", user_id: alice.user.id, heartbeat_ms: 25000 })
    expect(typeof a.ready.session_id).toBe("string")
    const b = await connect(bob.access_token)

    const joinedA = await a.request({ type: "join", room_id: room.id })
    expect(joinedA).toMatchObject({ type: "joined", room_id: room.id, recovered: true, last_seq: 0, messages: [] })
    const joinedB = await b.request({ type: "join", room_id: room.id })
    expect(joinedB.type).toBe("joined")

    const clientId = newClientId()
    const ack = await a.request({ type: "send", room_id: room.id, client_id: clientId, content: "hello 👋" })
    expect(ack).toMatchObject({ type: "ack", client_id: clientId, message: { room_id: room.id, seq: 1, sender_id: alice.user.id, content: "hello 👋", reply_to: null, edited_at: null } })
    const seen = await b.next((f) => f.type === "message")
    expect(seen.message).toEqual(ack.message)

    // A retry with the same client_id returns the same message and stores nothing new.
    const retry = await a.request({ type: "send", room_id: room.id, client_id: clientId, content: "hello 👋" })
    expect(retry.message).toEqual(ack.message)
    const history = await http(server.baseUrl, "GET", `/api/v1/chat/rooms/${room.id}/messages`, { token: bob.access_token })
    expect(history.status).toBe(200)
    expect(history.body.items.map((m: any) => m.id)).toEqual([ack.message.id])
  })
})
