import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { freshDatabase } from "../support/database.js"
import { type RunningServer, startServer } from "../support/server.js"

/**
 * The api role serves the built web client at `/`: hashed assets cached for a
 * year, index.html revalidated, the client's routes answered with index.html,
 * and the server's own prefixes left to the API's JSON 404. Uses the real
 * build (`npm run build` makes web/dist) and a small fake one.
 */

let server: RunningServer
let fake: RunningServer
const fakeDist = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-web-dist-"))
afterAll(() => NodeFs.rmSync(fakeDist, { recursive: true, force: true }))

const get = (base: string, path: string, headers: Record<string, string> = {}) => fetch(base + path, { headers, redirect: "manual" })

beforeAll(async () => {
  NodeFs.mkdirSync(NodePath.join(fakeDist, "assets"))
  NodeFs.writeFileSync(NodePath.join(fakeDist, "index.html"), `<!doctype html><title>fake</title><script type="module" src="/assets/app-abc123.js"></script>`)
  NodeFs.writeFileSync(NodePath.join(fakeDist, "assets", "app-abc123.js"), `console.log(${JSON.stringify("x".repeat(5000))})`)
  NodeFs.writeFileSync(NodePath.join(fakeDist, "favicon.svg"), `<svg xmlns="http://www.w3.org/2000/svg"/>`)
  const database = await freshDatabase("web_serving")
  ;[server, fake] = await Promise.all([
    startServer({ DATABASE_URL: database, VEZA_ROLES: "api" }),
    startServer({ DATABASE_URL: database, VEZA_ROLES: "api", WEB_DIST_DIR: fakeDist })
  ])
})

describe("the built web client", () => {
  it("serves index.html at / with no-cache, and its hashed script as immutable", async () => {
    const index = await get(server.baseUrl, "/")
    expect(index.status).toBe(200)
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8")
    expect(index.headers.get("cache-control")).toBe("no-cache")
    const html = await index.text()
    const script = /src="(\/assets\/index-[A-Za-z0-9_-]+\.js)"/.exec(html)?.[1]
    expect(script, html).toBeDefined()
    const asset = await get(server.baseUrl, script!, { "accept-encoding": "gzip" })
    expect(asset.status).toBe(200)
    expect(asset.headers.get("content-type")).toBe("text/javascript; charset=utf-8")
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable")
    // fetch undoes the gzip; the header says it was used.
    expect(asset.headers.get("content-encoding")).toBe("gzip")
    const js = await asset.text()
    expect(js.length).toBeGreaterThan(10_000)
    // The client is built from the API definition alone: no server module (nothing Node-only) got in.
    expect(js).not.toMatch(/from\s*"node:|import\(\s*"node:|require\(\s*"node:/)
  })

  it("answers a client route (and a deep link) with index.html, not a 404", async () => {
    for (const path of ["/tracks/8d6c0a51-6a5b-4a8f-9d4e-1b2c3d4e5f60", "/chat", "/u/someone?tab=x"]) {
      const res = await get(fake.baseUrl, path)
      expect(res.status, path).toBe(200)
      expect(res.headers.get("cache-control"), path).toBe("no-cache")
      expect(await res.text(), path).toContain("<title>fake</title>")
    }
  })

  it("revalidates with the ETag (304) and gzips what is worth it", async () => {
    const first = await get(fake.baseUrl, "/assets/app-abc123.js", { "accept-encoding": "gzip" })
    expect(first.headers.get("content-encoding")).toBe("gzip")
    const etag = first.headers.get("etag")!
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/)
    const again = await get(fake.baseUrl, "/assets/app-abc123.js", { "if-none-match": etag })
    expect(again.status).toBe(304)
    const plain = await get(fake.baseUrl, "/assets/app-abc123.js", { "accept-encoding": "identity" })
    expect(plain.headers.get("content-encoding")).toBeNull()
    expect(await plain.text()).toContain("console.log")
    const icon = await get(fake.baseUrl, "/favicon.svg")
    expect(icon.headers.get("content-type")).toBe("image/svg+xml")
    expect(icon.headers.get("cache-control")).toBe("no-cache")
  })

  it("leaves the server's prefixes to the API: unknown paths there are the JSON 404", async () => {
    for (const path of ["/api/v1/nope", "/api/v1/tracks/x/y/z", "/hls/abc", "/rpc/x", "/docs/x", "/ws/x", "/metrics/x"]) {
      const res = await get(fake.baseUrl, path)
      expect(res.status, path).toBe(404)
      expect(res.headers.get("content-type"), path).toContain("application/json")
      const body = (await res.json()) as { error: { code: string } }
      expect(body.error.code, path).toBe("NOT_FOUND")
    }
    // Real API routes still win over the catch-all.
    const health = await get(fake.baseUrl, "/healthz")
    expect(await health.json()).toEqual({ status: "ok" })
    const openapi = await get(fake.baseUrl, "/api/v1/openapi.json")
    expect(openapi.status).toBe(200)
  })

  it("a missing file is a 404, not index.html a script tag would choke on", async () => {
    const res = await get(fake.baseUrl, "/assets/gone-123.js")
    expect(res.status).toBe(404)
    expect(await res.text()).not.toContain("<title>")
    const malformed = await get(fake.baseUrl, "/%E0%A4%A")
    expect(malformed.status).toBe(404)
  })
})
