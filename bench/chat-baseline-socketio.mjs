// A minimal Socket.IO chat server: every socket joins one room, every `send`
// event is emitted to the room (the sender included). Default settings
// (in-memory adapter, 25 s heartbeat); clients connect with the websocket
// transport only, so there is no long-polling handshake.
import * as http from "node:http"
import { Server } from "socket.io"

const server = http.createServer()
const io = new Server(server, { transports: ["websocket"], serveClient: false })
io.on("connection", (socket) => {
  socket.join("room")
  socket.on("send", (payload) => io.to("room").emit("message", payload))
})
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ message: "listening", annotations: { port: server.address().port } })))
process.on("SIGTERM", () => {
  io.disconnectSockets(true)
  io.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
})
