// The chat yardstick: a bare `ws` server that relays every text frame it
// receives to every connected client (the sender included). No auth, no
// rooms, no storage — what broadcasting costs with nothing else around it.
import * as http from "node:http"
import { WebSocketServer } from "ws"

const server = http.createServer((_req, res) => res.writeHead(404).end())
const wss = new WebSocketServer({ server, path: "/ws" })
wss.on("connection", (ws) => {
  ws.on("error", () => {})
  ws.on("message", (data, isBinary) => {
    for (const client of wss.clients) if (client.readyState === 1) client.send(data, { binary: isBinary })
  })
})
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ message: "listening", annotations: { port: server.address().port } })))
process.on("SIGTERM", () => {
  for (const client of wss.clients) client.terminate()
  server.close(() => process.exit(0))
})
