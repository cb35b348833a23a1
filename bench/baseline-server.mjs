// The yardstick: GET /api/v1/users/:id with nothing but node:http and pg,
// the same query and the same JSON as Veza's endpoint.
import * as http from "node:http"
import pg from "pg"

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 })
const UUID = /^\/api\/v1\/users\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i
const SQL = `select u.id, u.username, u.display_name, u.role, u.created_at,
  p.bio, p.tagline, p.location, p.website_url, p.avatar_url, p.banner_url,
  p.follower_count, p.following_count, p.track_count, p.playlist_count
  from users u join user_profiles p on p.user_id = u.id where u.deleted_at is null and u.id = $1`

const server = http.createServer(async (req, res) => {
  const m = req.method === "GET" ? UUID.exec(req.url ?? "") : null
  if (!m) {
    res.writeHead(404, { "content-type": "application/json" }).end('{"error":{"code":"NOT_FOUND","message":"not found"}}')
    return
  }
  try {
    const { rows } = await pool.query(SQL, [m[1]])
    if (rows.length === 0) {
      res.writeHead(404, { "content-type": "application/json" }).end('{"error":{"code":"USER_NOT_FOUND","message":"user not found"}}')
      return
    }
    const r = rows[0]
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ...r, created_at: r.created_at.toISOString() }))
  } catch {
    res.writeHead(503, { "content-type": "application/json" }).end('{"error":{"code":"DATABASE_UNAVAILABLE","message":"retry"}}')
  }
})
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ message: "listening", annotations: { port: server.address().port } })))
process.on("SIGTERM", () => server.close(() => pool.end().then(() => process.exit(0))))
