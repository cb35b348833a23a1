import * as NodeFs from "node:fs"
import * as NodeNet from "node:net"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { registerUser } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { launchChromium, watchPage } from "../support/browser.js"
import { ChatClient } from "../support/chat.js"
import { freshDatabase } from "../support/database.js"
import { http, type RunningServer, runToExit, startServer } from "../support/server.js"
import { startMailCatcher } from "../support/smtp.js"
import { uploadTrack, waitForTrack } from "../support/tracks.js"

/**
 * The server as production runs it (APP_ENV=production): headers on every
 * kind of answer, exact CORS, size and time limits, and logs that carry no
 * secret even at debug level.
 */

const ORIGIN = "https://app.veza.test"
const JWT_SECRET = "jwt-secret-that-must-never-be-logged-0123456789"
const DB_PASSWORD = "db-password-never-logged-4711"
const MAX_BODY = 4096
const REQUEST_TIMEOUT_MS = 1500

let catcher: Awaited<ReturnType<typeof startMailCatcher>>
let server: RunningServer
let databaseUrl: string

beforeAll(async () => {
  catcher = await startMailCatcher()
  const url = new URL(await freshDatabase("security"))
  // The shared server trusts loopback, so the password is never checked: it is here to be looked for in the logs.
  url.password = DB_PASSWORD
  databaseUrl = url.toString()
  server = await startServer({
    APP_ENV: "production",
    DATABASE_URL: databaseUrl,
    JWT_SECRET,
    CORS_ALLOWED_ORIGINS: `${ORIGIN},https://admin.veza.test:8443`,
    SMTP_URL: catcher.url,
    PUBLIC_URL: "https://veza.example",
    MAX_JSON_BODY_BYTES: String(MAX_BODY),
    REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
    LOG_LEVEL: "debug"
  })
}, 60_000)

afterAll(() => catcher.close())

/** The one-time token of the newest mail of this kind to this address. */
const mailedToken = async (to: string, path: string) => {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    const mail = [...catcher.received].reverse().find((m) => m.to.includes(to) && m.data.includes(path))
    // Quoted-printable may break the link over lines ("=\r\n") and encode "=" as "=3D".
    const text = mail?.data.replace(/=\r?\n/g, "").replace(/=3D/g, "=")
    const match = text === undefined ? null : new RegExp(`${path}\\?token=([A-Za-z0-9_-]+)`).exec(text)
    if (match !== null) return match[1]!
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`no ${path} mail to ${to}`)
}

const expectHardened = (headers: Headers, what: string, routed = true) => {
  expect(headers.get("x-content-type-options"), what).toBe("nosniff")
  expect(headers.get("x-frame-options"), what).toBe("DENY")
  expect(headers.get("referrer-policy"), what).toBe("no-referrer")
  expect(headers.get("strict-transport-security"), what).toMatch(/^max-age=(\d{8,}|3153\d{4}); includeSubDomains$/)
  const csp = headers.get("content-security-policy") ?? ""
  expect(csp, what).toContain("frame-ancestors 'none'")
  expect(csp, what).toMatch(/^default-src '(none|self)'/)
  expect(headers.get("x-powered-by"), what).toBeNull()
  expect(headers.get("server"), what).toBeNull()
  if (routed) expect(headers.get("vary") ?? "", what).toMatch(/\bOrigin\b/)
}

/** One request over a raw socket; resolves with what came back and when the server closed. */
const rawExchange = (send: (socket: NodeNet.Socket) => void, limitMs = 15_000) =>
  new Promise<{ text: string; closedAfterMs: number }>((resolve, reject) => {
    const started = Date.now()
    const socket = NodeNet.connect(server.port, "127.0.0.1")
    let text = ""
    const guard = setTimeout(() => {
      socket.destroy()
      reject(new Error(`still open after ${limitMs} ms; got ${JSON.stringify(text)}`))
    }, limitMs)
    socket.on("connect", () => send(socket))
    socket.on("data", (d) => (text += d))
    socket.on("error", () => {})
    socket.on("close", () => {
      clearTimeout(guard)
      resolve({ text, closedAfterMs: Date.now() - started })
    })
  })

const parseRaw = (text: string) => {
  const [head, body] = text.split("\r\n\r\n", 2) as [string, string | undefined]
  const [statusLine, ...lines] = head.split("\r\n")
  const headers = new Headers()
  for (const line of lines) {
    const i = line.indexOf(":")
    if (i > 0) headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim())
  }
  return { status: Number(statusLine!.split(" ")[1]), headers, body: body === undefined || body === "" ? undefined : JSON.parse(body) }
}

// Filled in by the flows below and looked for in the logs at the end.
const secrets = new Map<string, string>([
  ["JWT secret", JWT_SECRET],
  ["database password", DB_PASSWORD]
])
let creator: Awaited<ReturnType<typeof registerUser>>
let trackId: string

describe("security headers on every kind of answer", () => {
  beforeAll(async () => {
    creator = await registerUser(server.baseUrl, { account_type: "creator" })
    const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-security-"))
    const upload = await uploadTrack(server.baseUrl, creator.access_token, { path: await generateAudio(dir, { seconds: 2, format: "wav" }) }, { visibility: "private" })
    expect(upload.status, JSON.stringify(upload.body)).toBe(201)
    trackId = upload.body.id
    await waitForTrack(server.baseUrl, creator.access_token, trackId)
  }, 90_000)

  it("API answers, errors, HLS, metrics, OpenAPI, preflights and refusals before routing", async () => {
    const link = await http(server.baseUrl, "GET", `/api/v1/tracks/${trackId}/stream-url`, { token: creator.access_token })
    expect(link.status).toBe(200)
    secrets.set("stream link signature", new URL(link.body.url, server.baseUrl).searchParams.get("sig")!)
    const bearer = { authorization: `Bearer ${creator.access_token}` }
    const cases: ReadonlyArray<[string, string, RequestInit, number]> = [
      ["health", "/healthz", {}, 200],
      ["JSON resource", "/api/v1/auth/me", { headers: bearer }, 200],
      ["401", "/api/v1/auth/me", {}, 401],
      ["404 of a handler", "/api/v1/users/00000000-0000-4000-8000-000000000000", {}, 404],
      ["404 of the router", "/api/v1/nowhere", {}, 404],
      ["400 malformed JSON", "/api/v1/auth/login", { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" }, 400],
      ["413 before reading", "/api/v1/auth/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email: "x".repeat(MAX_BODY) }) }, 413],
      ["HLS master playlist", new URL(link.body.url, server.baseUrl).pathname + new URL(link.body.url, server.baseUrl).search, {}, 200],
      ["HLS 404", "/hls/00000000-0000-4000-8000-000000000000/master.m3u8", {}, 404],
      ["metrics", "/metrics", {}, 200],
      ["OpenAPI", "/api/v1/openapi.json", {}, 200],
      ["preflight", "/api/v1/auth/login", { method: "OPTIONS", headers: { origin: ORIGIN, "access-control-request-method": "POST" } }, 204]
    ]
    for (const [what, path, init, status] of cases) {
      const res = await fetch(server.baseUrl + path, init)
      await res.arrayBuffer()
      expect(res.status, what).toBe(status)
      expectHardened(res.headers, what)
      expect(res.headers.get("content-security-policy"), what).toBe("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
    }
  }, 30_000)

  it("answers Node refuses before any handler (malformed HTTP, huge headers) carry them too, in the envelope", async () => {
    const malformed = parseRaw((await rawExchange((s) => s.write("GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n"))).text)
    expect(malformed.status).toBe(400)
    expect(malformed.body.error.code).toBe("BAD_REQUEST")
    expectHardened(malformed.headers, "400 from the parser", false)
    const huge = parseRaw((await rawExchange((s) => s.write(`GET /healthz HTTP/1.1\r\nx-big: ${"a".repeat(20_000)}\r\n\r\n`))).text)
    expect(huge.status).toBe(431)
    expect(huge.body.error.code).toBe("HEADERS_TOO_LARGE")
    expectHardened(huge.headers, "431 from the parser", false)
  })

  it("the web client's page gets a policy of its own origin only; its files and the SPA fallback are hardened too", async () => {
    for (const path of ["/", "/tracks/00000000-0000-4000-8000-000000000000"]) {
      const page = await fetch(server.baseUrl + path)
      await page.arrayBuffer()
      expect(page.status, path).toBe(200)
      expect(page.headers.get("content-type"), path).toContain("text/html")
      expectHardened(page.headers, path)
      const csp = page.headers.get("content-security-policy") ?? ""
      expect(csp, path).toContain("script-src 'self'")
      expect(csp, path).toContain("connect-src 'self'")
      expect(csp, path).toContain("object-src 'none'")
      expect(csp, path).not.toMatch(/unsafe|https?:|\*/)
    }
    const html = await (await fetch(`${server.baseUrl}/`)).text()
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!
    const asset = await fetch(server.baseUrl + script)
    await asset.arrayBuffer()
    expect(asset.status).toBe(200)
    expectHardened(asset.headers, script)
  })

  it("the /docs page runs under its own policy: inline code, nothing from elsewhere, no frames", async () => {
    const res = await fetch(`${server.baseUrl}/docs`)
    await res.arrayBuffer()
    expect(res.headers.get("x-content-type-options")).toBe("nosniff")
    const csp = res.headers.get("content-security-policy") ?? ""
    expect(csp).toMatch(/^default-src 'none'/)
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).toContain("connect-src 'self'")
    expect(csp).not.toMatch(/https?:|\*/)

    // The policy must not break the page: it renders the API with no violation reported.
    const browser = await launchChromium()
    try {
      const page = await browser.newPage()
      const problems = watchPage(page)
      await page.goto(`${server.baseUrl}/docs`, { waitUntil: "load" })
      // Scalar breaks paths with zero-width spaces.
      await page.waitForFunction(`document.body.innerText.replace(/\\u200b/g, "").includes("/api/v1/auth/register")`, undefined, { timeout: 30_000 })
      await page.waitForTimeout(500)
      expect(problems.errors.filter((e) => /Content Security Policy|Refused to/i.test(e))).toEqual([])
      expect(problems.failedRequests).toEqual([])
    } finally {
      await browser.close()
    }
  }, 60_000)
})

describe("CORS in production: exactly the configured origins", () => {
  it("echoes an allowed origin, never a wildcard, never credentials", async () => {
    for (const origin of [ORIGIN, "https://admin.veza.test:8443"]) {
      const res = await http(server.baseUrl, "GET", "/healthz", { headers: { origin } })
      expect(res.headers.get("access-control-allow-origin")).toBe(origin)
      expect(res.headers.get("access-control-allow-credentials")).toBeNull()
      expect(res.headers.get("access-control-expose-headers")).toContain("x-request-id")
      expect(res.headers.get("vary")).toContain("Origin")
    }
  })

  it("gives near misses nothing", async () => {
    const misses = [
      "https://evil.test",
      "http://app.veza.test",
      "https://app.veza.test:444",
      "https://app.veza.test.evil.test",
      "https://evil-app.veza.test",
      "https://admin.veza.test",
      "null",
      "*"
    ]
    for (const origin of misses) {
      const res = await http(server.baseUrl, "GET", "/api/v1/openapi.json", { headers: { origin } })
      expect(res.headers.get("access-control-allow-origin"), origin).toBeNull()
      expect(res.headers.get("vary"), origin).toContain("Origin")
      const preflight = await fetch(`${server.baseUrl}/api/v1/auth/login`, {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" }
      })
      expect(preflight.status).toBe(204)
      for (const name of ["access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers", "access-control-allow-credentials"]) {
        expect(preflight.headers.get(name), `${origin} ${name}`).toBeNull()
      }
    }
  })

  it("answers an allowed preflight with methods, headers and a cache time", async () => {
    const preflight = await fetch(`${server.baseUrl}/api/v1/auth/login`, {
      method: "OPTIONS",
      headers: { origin: ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "content-type, authorization" }
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get("access-control-allow-origin")).toBe(ORIGIN)
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST")
    expect(preflight.headers.get("access-control-allow-headers")).toContain("authorization")
    expect(Number(preflight.headers.get("access-control-max-age"))).toBeGreaterThan(0)
    expect(preflight.headers.get("access-control-allow-credentials")).toBeNull()
    expect(preflight.headers.get("vary")).toMatch(/Origin.*Access-Control-Request-Method.*Access-Control-Request-Headers/)
  })

  it("production refuses a wildcard or anything that is not an origin", async () => {
    const bad = ["*", "https://app.veza.test/", "app.veza.test", "https://*.veza.test"]
    const run = await runToExit({ APP_ENV: "production", JWT_SECRET, DATABASE_URL: databaseUrl, CORS_ALLOWED_ORIGINS: [ORIGIN, ...bad].join(","), PORT: "0", HOST: "127.0.0.1" })
    expect(run.code).toBe(1)
    expect(run.stderr).toContain("CORS_ALLOWED_ORIGINS must hold exact origins")
    expect(run.stderr).toContain(`not ${bad.join(", ")}`)
  }, 30_000)
})

describe("size and time limits", () => {
  it("every JSON route refuses a body over MAX_JSON_BODY_BYTES with 413, announced or chunked", async () => {
    const spec = (await http(server.baseUrl, "GET", "/api/v1/openapi.json")).body
    const routes: Array<[string, string]> = []
    for (const [path, item] of Object.entries<Record<string, any>>(spec.paths)) {
      for (const [method, operation] of Object.entries<any>(item)) {
        if (operation?.requestBody?.content?.["application/json"] !== undefined) routes.push([method.toUpperCase(), path])
      }
    }
    expect(routes.length).toBeGreaterThan(20)
    const big = JSON.stringify({ padding: "x".repeat(MAX_BODY * 2) })
    for (const [method, template] of routes) {
      const path = template.replace(/\{[^}]+\}/g, "00000000-0000-4000-8000-000000000000")
      const announced = await fetch(server.baseUrl + path, {
        method,
        headers: { "content-type": "application/json", authorization: `Bearer ${creator.access_token}` },
        body: big
      })
      expect(announced.status, `${method} ${template}`).toBe(413)
      expect(((await announced.json()) as any).error.code).toBe("PAYLOAD_TOO_LARGE")
      // Without a declared length the size is unknown until read: such bodies are refused up front.
      const chunked = await fetch(server.baseUrl + path, {
        method,
        headers: { "content-type": "application/json", authorization: `Bearer ${creator.access_token}` },
        body: new Blob([big]).stream(),
        duplex: "half"
      } as RequestInit)
      expect(chunked.status, `${method} ${template} chunked`).toBe(411)
      expect(((await chunked.json()) as any).error.code).toBe("LENGTH_REQUIRED")
    }
    // A small chunked body is refused the same way, and the server is fine afterwards.
    const small = await fetch(`${server.baseUrl}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new Blob([JSON.stringify({ email: "a@b.test", password: "whatever it is" })]).stream(),
      duplex: "half"
    } as RequestInit)
    expect(small.status).toBe(411)
    expect((await http(server.baseUrl, "GET", "/healthz")).status).toBe(200)
  }, 60_000)

  it("WebSocket frames are limited too (chat and RPC close with 1009)", async () => {
    const chat = await ChatClient.connect(server.baseUrl, creator.access_token)
    chat.send({ type: "ping", padding: "x".repeat(70_000) })
    expect((await chat.closed).code).toBe(1009)
    const rpc = new WebSocket(`${server.baseUrl.replace(/^http/, "ws")}/rpc`)
    await new Promise((resolve, reject) => {
      rpc.on("open", resolve)
      rpc.on("error", reject)
    })
    const closed = new Promise<number>((resolve) => rpc.on("close", (code) => resolve(code)))
    rpc.send("x".repeat(MAX_BODY + 1))
    expect(await closed).toBe(1009)
  })

  it("a client too slow to send its request is cut off with 408 (slowloris)", async () => {
    // Node checks for overdue requests every REQUEST_TIMEOUT_MS / 4 here.
    const limit = REQUEST_TIMEOUT_MS * 1.25 + 1500
    const [idle, trickle, unfinished] = await Promise.all([
      rawExchange(() => {}),
      rawExchange((s) => {
        s.write("GET /healthz HTTP/1.1\r\nhost: x\r\n")
        const drip = setInterval(() => s.writable && s.write("x-drip: 1\r\n"), 200)
        s.on("close", () => clearInterval(drip))
      }),
      rawExchange((s) => s.write(`POST /api/v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"email":`))
    ])
    for (const [what, result] of [["idle", idle], ["trickled headers", trickle], ["unfinished body", unfinished]] as const) {
      expect(result.closedAfterMs, what).toBeLessThan(limit)
      expect(result.closedAfterMs, what).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100)
      const answer = parseRaw(result.text)
      expect(answer.status, what).toBe(408)
      expect(answer.body.error.code, what).toBe("REQUEST_TIMEOUT")
      expectHardened(answer.headers, what, false)
    }
  }, 30_000)
})

describe("logs", () => {
  it("carry no secret, token, password or link signature after every flow that handles one", async () => {
    const password = "first password, never logged"
    const newPassword = "second password, never logged"
    const user = await registerUser(server.baseUrl, { password })
    secrets.set("password", password).set("new password", newPassword)
    secrets.set("creator password", creator.password)
    secrets.set("access token", user.access_token).set("refresh token", user.refresh_token)
    secrets.set("creator access token", creator.access_token).set("creator refresh token", creator.refresh_token)

    secrets.set("verification token", await mailedToken(user.email, "/verify-email"))
    expect((await http(server.baseUrl, "POST", "/api/v1/auth/verify-email", { body: { token: secrets.get("verification token") } })).status).toBe(204)

    expect((await http(server.baseUrl, "POST", "/api/v1/auth/login", { body: { email: user.email, password: "a wrong password" } })).status).toBe(401)
    secrets.set("wrong password", "a wrong password")
    const login = await http(server.baseUrl, "POST", "/api/v1/auth/login", { body: { email: user.email, password } })
    expect(login.status).toBe(200)
    secrets.set("login access token", login.body.access_token).set("login refresh token", login.body.refresh_token)
    const refreshed = await http(server.baseUrl, "POST", "/api/v1/auth/refresh", { body: { refresh_token: login.body.refresh_token } })
    expect(refreshed.status).toBe(200)
    secrets.set("rotated refresh token", refreshed.body.refresh_token)
    // Re-using the rotated token is a security event: it is logged, the token is not.
    expect((await http(server.baseUrl, "POST", "/api/v1/auth/refresh", { body: { refresh_token: login.body.refresh_token } })).status).toBe(401)

    expect((await http(server.baseUrl, "POST", "/api/v1/auth/password/reset-request", { body: { email: user.email } })).status).toBe(202)
    secrets.set("reset token", await mailedToken(user.email, "/reset-password"))
    expect((await http(server.baseUrl, "POST", "/api/v1/auth/password/reset", { body: { token: secrets.get("reset token"), password: newPassword } })).status).toBe(204)
    const relogin = await http(server.baseUrl, "POST", "/api/v1/auth/login", { body: { email: user.email, password: newPassword } })
    expect(relogin.status).toBe(200)
    secrets.set("access token after reset", relogin.body.access_token)

    const chatToken = await http(server.baseUrl, "POST", "/api/v1/chat/token", { token: relogin.body.access_token })
    expect(chatToken.status).toBe(200)
    secrets.set("chat token", chatToken.body.token)
    const viaQuery = ChatClient.open(server.baseUrl, { query: `token=${encodeURIComponent(chatToken.body.token)}` })
    await viaQuery.next((f) => f.type === "ready")
    await viaQuery.close()
    const bad = ChatClient.open(server.baseUrl, { query: "token=not-a-valid-token-but-still-a-secret" })
    secrets.set("refused chat token", "not-a-valid-token-but-still-a-secret")
    await bad.closed

    const download = await http(server.baseUrl, "GET", `/api/v1/tracks/${trackId}/download`, { token: creator.access_token })
    expect(download.status).toBe(200)
    // Links are absolute on PUBLIC_URL: only their path and query are followed, on this server.
    const downloadLink = new URL(download.body.url)
    secrets.set("download link signature", downloadLink.searchParams.get("sig")!)
    expect((await fetch(server.baseUrl + downloadLink.pathname + downloadLink.search)).status).toBe(200)
    expect((await http(server.baseUrl, "GET", "/api/v1/auth/me", { token: `${relogin.body.access_token}x` })).status).toBe(401)
    await http(server.baseUrl, "POST", "/api/v1/auth/logout", { body: { refresh_token: relogin.body.refresh_token } })

    // Give the access-log lines of the last requests time to be written.
    await new Promise((r) => setTimeout(r, 300))
    const output = [...server.stdout, ...server.stderr].join("\n")
    expect(output).toContain('"message":"request"')
    for (const [name, secret] of secrets) {
      expect(secret.length, name).toBeGreaterThan(8)
      expect(output.includes(secret), `${name} appears in the log`).toBe(false)
      // A token's signature part alone is enough to forge nothing, but the payload part identifies a live session.
      if (secret.split(".").length === 3) for (const part of secret.split(".").slice(1)) expect(output.includes(part), `${name} (part) appears in the log`).toBe(false)
    }
  }, 60_000)
})
