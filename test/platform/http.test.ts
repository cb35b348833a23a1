import * as NodeHttp from "node:http"
import { beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { freshDatabase } from "../support/database.js"
import { http, type RunningServer, startServer } from "../support/server.js"

let server: RunningServer

beforeAll(async () => {
  server = await startServer({ DATABASE_URL: await freshDatabase("http"), CORS_ALLOWED_ORIGINS: "https://app.veza.test" })
})

const expectEnvelope = (body: any, code: string) => {
  expect(Object.keys(body)).toEqual(["error"])
  expect(body.error.code).toBe(code)
  expect(typeof body.error.message).toBe("string")
  expect(JSON.stringify(body)).not.toMatch(/at .*\.js:\d+|node_modules|stack/)
}

describe("bad input is a 4xx in the error envelope, never a 500", () => {
  it("malformed JSON → 400 MALFORMED_BODY", async () => {
    const res = await http(server.baseUrl, "POST", "/api/v1/auth/login", { raw: '{"email": "a@b.co",', headers: { "content-type": "application/json" } })
    expect(res.status).toBe(400)
    expectEnvelope(res.body, "MALFORMED_BODY")
  })

  it("wrong types and missing fields → 400 VALIDATION_ERROR with the issues", async () => {
    const wrong = await http(server.baseUrl, "POST", "/api/v1/auth/login", { body: { email: "a@b.co", password: 5 } })
    expect(wrong.status).toBe(400)
    expectEnvelope(wrong.body, "VALIDATION_ERROR")
    expect(wrong.body.error.details.issues[0].path).toEqual(["password"])
    const missing = await http(server.baseUrl, "POST", "/api/v1/auth/login", { body: { email: "a@b.co" } })
    expect(missing.status).toBe(400)
    expect(missing.body.error.message).toContain("password")
    for (const raw of ["[]", "null", "\"text\"", "42"]) {
      const res = await http(server.baseUrl, "POST", "/api/v1/auth/login", { raw, headers: { "content-type": "application/json" } })
      expect(res.status).toBe(400)
    }
  })

  it("a body that is not JSON at all → 400", async () => {
    const res = await http(server.baseUrl, "POST", "/api/v1/auth/register", { raw: "hello", headers: { "content-type": "text/plain" } })
    expect(res.status).toBe(400)
    expectEnvelope(res.body, "VALIDATION_ERROR")
  })

  it("an oversized body → 413 before it is read", async () => {
    const big = JSON.stringify({ email: "a@b.co", password: "x".repeat(2 * 1024 * 1024) })
    const res = await http(server.baseUrl, "POST", "/api/v1/auth/login", { raw: big, headers: { "content-type": "application/json" } })
    expect(res.status).toBe(413)
    expectEnvelope(res.body, "PAYLOAD_TOO_LARGE")
  })

  it("a multipart body sent to a JSON endpoint → 4xx, oversized or not", async () => {
    const form = new FormData()
    form.append("email", "a@b.co")
    form.append("password", "x".repeat(2 * 1024 * 1024))
    const big = await fetch(`${server.baseUrl}/api/v1/auth/login`, { method: "POST", body: form })
    expect([400, 413]).toContain(big.status)
    expectEnvelope(await big.json(), big.status === 413 ? "PAYLOAD_TOO_LARGE" : "VALIDATION_ERROR")
    const broken = await http(server.baseUrl, "POST", "/api/v1/auth/login", {
      raw: "--x\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nnot closed",
      headers: { "content-type": "multipart/form-data; boundary=x" }
    })
    expect(broken.status).toBeGreaterThanOrEqual(400)
    expect(broken.status).toBeLessThan(500)
  })

  it("unknown routes and methods → 404", async () => {
    const res = await http(server.baseUrl, "GET", "/api/v1/nothing-here")
    expect(res.status).toBe(404)
    expectEnvelope(res.body, "NOT_FOUND")
    const wrongMethod = await http(server.baseUrl, "DELETE", "/api/v1/auth/me")
    expect(wrongMethod.status).toBe(404)
  })

  it("bad UUIDs in paths → 400", async () => {
    for (const id of ["123", "not-a-uuid", "00000000-0000-0000-0000-00000000000g", "%27%20or%201%3D1--"]) {
      const res = await http(server.baseUrl, "GET", `/api/v1/users/${id}`)
      expect(res.status, id).toBe(400)
      expectEnvelope(res.body, "VALIDATION_ERROR")
    }
  })

  it("a malformed Authorization header → 401", async () => {
    for (const authorization of ["Bearer", "Basic abc", "Bearer a.b.c", "Bearer " + "x".repeat(5000)]) {
      const res = await http(server.baseUrl, "GET", "/api/v1/auth/me", { headers: { authorization } })
      expect(res.status, authorization.slice(0, 20)).toBe(401)
      expectEnvelope(res.body, "INVALID_TOKEN")
    }
  })
})

describe("client addresses behind a proxy", () => {
  it("ignores an X-Forwarded-For that is not an address instead of failing", async () => {
    const proxied = await startServer({ DATABASE_URL: await freshDatabase("http_proxy"), TRUST_PROXY: "true" })
    for (const forwarded of ["not-an-ip", "1.2.3.4', 'x", "", "::1, 10.0.0.1", "fe80::1%eth0"]) {
      const res = await http(proxied.baseUrl, "POST", "/api/v1/auth/login", {
        body: { email: "nobody@example.com", password: "whatever pw" },
        headers: { "x-forwarded-for": forwarded }
      })
      expect(res.status, forwarded).toBe(401)
    }
  })

  it("believes only the rightmost X-Forwarded-For entry, the one the proxy appended", async () => {
    const proxied = await startServer({ DATABASE_URL: await freshDatabase("http_xff"), TRUST_PROXY: "true", LOGIN_MAX_ATTEMPTS_PER_IP: "2" })
    const attempt = (forwarded: string) =>
      http(proxied.baseUrl, "POST", "/api/v1/auth/login", {
        body: { email: `${Math.random().toString(36).slice(2)}@example.com`, password: "whatever pw" },
        headers: { "x-forwarded-for": forwarded }
      })
    // The client varies the left part; the proxy's entry (right) stays the same: still limited.
    expect((await attempt("1.1.1.1, 203.0.113.50")).status).toBe(401)
    expect((await attempt("2.2.2.2, 203.0.113.50")).status).toBe(401)
    expect((await attempt("3.3.3.3, 203.0.113.50")).status).toBe(429)
  })
})

describe("request ids, CORS and headers", () => {
  it("honours a caller's x-request-id and makes one up otherwise", async () => {
    const given = await http(server.baseUrl, "GET", "/healthz", { headers: { "x-request-id": "trace-abc.123" } })
    expect(given.headers.get("x-request-id")).toBe("trace-abc.123")
    const generated = await http(server.baseUrl, "GET", "/healthz")
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/)
    const hostile = await http(server.baseUrl, "GET", "/healthz", { headers: { "x-request-id": "<script>" } })
    expect(hostile.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/)
    const line = server.logs.find((l) => l.message === "request" && l.annotations["request_id"] === "trace-abc.123")
    expect(line?.annotations).toMatchObject({ method: "GET", path: "/healthz", status: 200 })
  })

  it("allows exactly the configured origins", async () => {
    const allowed = await http(server.baseUrl, "GET", "/healthz", { headers: { origin: "https://app.veza.test" } })
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.veza.test")
    const other = await http(server.baseUrl, "GET", "/healthz", { headers: { origin: "https://evil.test" } })
    expect(other.headers.get("access-control-allow-origin")).toBeNull()
    const preflight = await fetch(`${server.baseUrl}/api/v1/auth/login`, {
      method: "OPTIONS",
      headers: { origin: "https://app.veza.test", "access-control-request-method": "POST", "access-control-request-headers": "content-type" }
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST")
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://app.veza.test")
  })

  it("sets security headers", async () => {
    const res = await http(server.baseUrl, "GET", "/healthz")
    expect(res.headers.get("x-content-type-options")).toBe("nosniff")
    expect(res.headers.get("x-frame-options")).toBe("DENY")
  })
})

describe("operations", () => {
  it("healthz, health and readyz", async () => {
    expect((await http(server.baseUrl, "GET", "/healthz")).body).toEqual({ status: "ok" })
    expect((await http(server.baseUrl, "GET", "/health")).status).toBe(200)
    const ready = await http(server.baseUrl, "GET", "/readyz")
    expect(ready.status).toBe(200)
    expect(ready.body).toMatchObject({ ready: true, draining: false, checks: { database: "ok" } })
  })

  it("exposes Prometheus metrics under the seed's names", async () => {
    await registerUser(server.baseUrl)
    await http(server.baseUrl, "GET", "/api/v1/users/00000000-0000-4000-8000-000000000000")
    const res = await fetch(`${server.baseUrl}/metrics`)
    expect(res.headers.get("content-type")).toContain("text/plain")
    const text = await res.text()
    expect(text).toMatch(/veza_http_requests_total\{method="POST",route="\/api\/v1\/auth\/register",status="201"\} \d+/)
    expect(text).toMatch(/veza_http_requests_total\{method="GET",route="\/api\/v1\/users\/:id",status="404"\} \d+/)
    expect(text).toMatch(/veza_http_request_duration_seconds_bucket\{le="0.1",method="POST",route="\/api\/v1\/auth\/register"\}/)
    expect(text).toMatch(/veza_users_registered_total\{role="user"\} [1-9]/)
    expect(text).toContain("veza_auth_login_attempts_total")
    expect(text).toContain("veza_process_resident_memory_bytes")
    // Names and garbage in URLs collapse into their route template: series stay bounded.
    await http(server.baseUrl, "GET", "/api/v1/users/by-username/someone_unknown")
    await http(server.baseUrl, "GET", "/api/v1/nowhere/at/all")
    const after = await fetch(`${server.baseUrl}/metrics`).then((r) => r.text())
    expect(after).toContain('route="/api/v1/users/by-username/:username"')
    expect(after).toContain('route="unmatched"')
    expect(after).not.toContain("someone_unknown")
    expect(after).not.toContain("nowhere")
  })

  it("counts and logs requests whose client went away before the answer, as 499", async () => {
    const req = NodeHttp.request(`${server.baseUrl}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": "100", "x-request-id": "gone-before-answer" }
    })
    req.on("error", () => {})
    req.write('{"email":')
    await new Promise((r) => setTimeout(r, 200))
    req.destroy()
    await new Promise((r) => setTimeout(r, 300))
    const line = server.logs.find((l) => l.message === "request" && l.annotations["request_id"] === "gone-before-answer")
    expect(line?.annotations["status"]).toBe(499)
    const text = await fetch(`${server.baseUrl}/metrics`).then((r) => r.text())
    expect(text).toMatch(/veza_http_requests_total\{method="POST",route="\/api\/v1\/auth\/login",status="499"\} 1/)
  })

  it("serves the OpenAPI document and the interactive docs", async () => {
    const spec = await http(server.baseUrl, "GET", "/api/v1/openapi.json")
    expect(spec.status).toBe(200)
    expect(spec.body.openapi).toMatch(/^3\./)
    expect(Object.keys(spec.body.paths)).toEqual(expect.arrayContaining(["/api/v1/auth/register", "/api/v1/users/{id}"]))
    const conflict = spec.body.paths["/api/v1/auth/register"].post.responses["409"]
    expect(conflict.content["application/json"].schema.$ref).toBe("#/components/schemas/Conflict")
    // Documented as the envelope clients actually receive.
    expect(spec.body.components.schemas.Conflict.properties.error.required).toEqual(expect.arrayContaining(["code", "message"]))
    const docs = await fetch(`${server.baseUrl}/docs`)
    expect(docs.status).toBe(200)
    expect(await docs.text()).toContain("<html")
  })

  it("answers an upgrade to an unknown path with 404 instead of hanging", async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = NodeHttp.request(`${server.baseUrl}/nowhere`, { headers: { connection: "upgrade", upgrade: "websocket" } })
      req.on("response", (res) => {
        let body = ""
        res.on("data", (d) => (body += d))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
      })
      req.on("upgrade", () => reject(new Error("upgraded")))
      req.on("error", reject)
      req.end()
    })
    expect(status).toBe(404)
    expectEnvelope(JSON.parse(body), "NOT_FOUND")
  })
})
