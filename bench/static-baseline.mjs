// The yardstick for HLS serving: a bare node:http static file server over
// ROOT (the Veza server's DATA_DIR/storage), so the same URL path
// (/hls/<track>/<attempt>/128k/seg_00003.m4s) names the same file on both.
// One stat for the length, then the file streamed: nothing else.
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"

const ROOT = path.resolve(process.env.ROOT ?? ".")
const TYPES = { ".m3u8": "application/vnd.apple.mpegurl", ".m4s": "audio/mp4", ".mp4": "audio/mp4" }

const notFound = (res) => res.writeHead(404, { "content-type": "text/plain" }).end("not found")

const server = http.createServer((req, res) => {
  const url = req.url ?? "/"
  const q = url.indexOf("?")
  const file = path.join(ROOT, q === -1 ? url : url.slice(0, q))
  if (!file.startsWith(ROOT + path.sep)) return notFound(res)
  fs.stat(file, (err, stat) => {
    if (err !== null || !stat.isFile()) return notFound(res)
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", "content-length": stat.size })
    fs.createReadStream(file).pipe(res)
  })
})
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ message: "listening", annotations: { port: server.address().port } })))
process.on("SIGTERM", () => server.close(() => process.exit(0)))
