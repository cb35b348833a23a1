import * as NodeCrypto from "node:crypto"
import { expect } from "vitest"
import { http, type RunningServer } from "./server.js"

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

/**
 * The one-time token from the newest mail of this template to this address,
 * read where development shows it: the server's log (the outbox keeps only a
 * redacted copy).
 */
export const tokenFromLog = (server: RunningServer, to: string, template: string) => {
  const line = [...server.logs].reverse().find((l) => l.message.startsWith("email") && l.annotations["to"] === to && l.annotations["template"] === template)
  const match = /token=([A-Za-z0-9_-]+)/.exec(String(line?.annotations["body"] ?? ""))
  expect(match, `no ${template} mail to ${to} in the log`).not.toBeNull()
  return match![1]!
}
