import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { freshDatabase, query } from "../support/database.js"
import { http, type RunningServer, startServer } from "../support/server.js"
import { startMailCatcher } from "../support/smtp.js"

let catcher: Awaited<ReturnType<typeof startMailCatcher>>
let server: RunningServer
let db: string

beforeAll(async () => {
  catcher = await startMailCatcher()
  db = await freshDatabase("mail")
  server = await startServer({ DATABASE_URL: db, SMTP_URL: catcher.url, PUBLIC_URL: "https://veza.example" })
})

afterAll(() => catcher.close())

/** Delivery happens after the request has been answered. */
const waitForStatus = async (to: string, status: string) => {
  for (let i = 0; i < 100; i++) {
    const rows = await query<{ status: string }>(db, "select status from email_outbox where to_address = $1", [to])
    if (rows[0]?.status === status) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`mail to ${to} never became ${status}`)
}

describe("Mailer with SMTP_URL", () => {
  it("delivers the verification mail over SMTP and keeps no usable token in the outbox", async () => {
    const s = await registerUser(server.baseUrl)
    await waitForStatus(s.email, "sent")
    const mail = catcher.received.find((m) => m.to.includes(s.email))
    expect(mail).toBeDefined()
    // The body is quoted-printable: undo soft breaks and =XX escapes before reading the link.
    const body = mail!.data.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    const token = /verify-email\?token=([A-Za-z0-9_-]+)/.exec(body)?.[1]
    expect(token).toBeDefined()
    expect(body).toContain("https://veza.example/verify-email")
    const [row] = await query<{ status: string; body_text: string; sent_at: Date | null }>(
      db,
      "select status, body_text, sent_at from email_outbox where to_address = $1",
      [s.email]
    )
    expect(row).toMatchObject({ status: "sent" })
    expect(row!.sent_at).not.toBeNull()
    expect(row!.body_text).not.toContain(token!)
    expect(row!.body_text).toContain("[redacted]")
    // The delivered link works.
    expect((await http(server.baseUrl, "POST", "/api/v1/auth/verify-email", { body: { token } })).status).toBe(204)
    expect(server.stdout.join("\n")).not.toContain(token!)
  })

  it("records a failed delivery without failing the request", async () => {
    await catcher.close()
    const s = await registerUser(server.baseUrl)
    await waitForStatus(s.email, "failed")
    const [row] = await query<{ status: string; last_error: string | null; attempts: number }>(
      db,
      "select status, last_error, attempts from email_outbox where to_address = $1",
      [s.email]
    )
    expect(row).toMatchObject({ status: "failed", attempts: 1 })
    expect(row!.last_error).toMatch(/ECONNREFUSED|connect/i)
  })
})
