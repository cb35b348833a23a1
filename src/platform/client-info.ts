import type { Headers } from "@effect/platform"

export interface ClientInfo {
  readonly ip: string
  readonly userAgent: string | null
  readonly requestId: string | null
}

/**
 * Set by the HTTP layer on every request, overwriting whatever the client
 * sent, so HTTP handlers and RPC handlers (which see headers only) agree on
 * who is calling.
 */
export const CLIENT_IP_HEADER = "x-veza-client-ip"

export const clientInfo = (headers: Headers.Headers): ClientInfo => ({
  ip: headers[CLIENT_IP_HEADER] ?? "0.0.0.0",
  userAgent: headers["user-agent"]?.slice(0, 512) ?? null,
  requestId: headers["x-request-id"] ?? null
})
