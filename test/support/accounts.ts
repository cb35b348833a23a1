import * as NodeCrypto from "node:crypto"
import { expect } from "vitest"
import { query } from "./database.js"
import { http } from "./server.js"

export interface Session {
  readonly user: { id: string; email: string; username: string; role: string; [k: string]: unknown }
  readonly access_token: string
  readonly refresh_token: string
  readonly expires_in: number
}

export const uniqueName = (prefix = "u") => `${prefix}_${NodeCrypto.randomBytes(5).toString("hex")}`

/** Registers a fresh account through the API and returns its session and password. */
export const registerUser = async (baseUrl: string, overrides: Record<string, unknown> = {}) => {
  const username = uniqueName()
  const password = "correct horse battery"
  const body = { email: `${username}@example.com`, username, password, ...overrides }
  const res = await http<Session>(baseUrl, "POST", "/api/v1/auth/register", { body })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return { ...res.body, password: String(body.password), email: String(body.email).toLowerCase() }
}

/** The one-time token from the newest outbox mail of this template to this address. */
export const tokenFromOutbox = async (databaseUrl: string, to: string, template: string) => {
  const rows = await query<{ body_text: string }>(
    databaseUrl,
    "select body_text from email_outbox where to_address = $1 and template = $2 order by created_at desc limit 1",
    [to, template]
  )
  const match = /token=([A-Za-z0-9_-]+)/.exec(rows[0]?.body_text ?? "")
  expect(match, `no ${template} mail to ${to}`).not.toBeNull()
  return match![1]!
}
