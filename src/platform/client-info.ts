import * as NodeCrypto from "node:crypto"
import type { Headers } from "@effect/platform"
import { Effect } from "effect"

export interface ClientInfo {
  readonly ip: string
  readonly userAgent: string | null
  readonly requestId: string | null
}

/**
 * Who is calling, as handlers see it. The HTTP front writes the client's
 * address into a header handlers read back, so HTTP handlers and RPC handlers
 * (which only see headers) agree. RPC messages carry headers of their own that
 * are merged over the request's, so the header's name is random per process:
 * a client cannot name it, hence cannot forge its address.
 */
export class ClientInfoReader extends Effect.Service<ClientInfoReader>()("veza/ClientInfoReader", {
  sync: () => {
    const addressHeader = `x-veza-client-ip-${NodeCrypto.randomBytes(8).toString("hex")}`
    const read = (headers: Headers.Headers): ClientInfo => ({
      ip: headers[addressHeader] ?? "0.0.0.0",
      userAgent: headers["user-agent"]?.slice(0, 512) ?? null,
      requestId: headers["x-request-id"] ?? null
    })
    return { addressHeader, read } as const
  }
}) {}
