import { RpcSerialization } from "@effect/rpc"
import { Layer } from "effect"

const isHeaderList = (headers: unknown) =>
  Array.isArray(headers) && headers.every((h) => Array.isArray(h) && h.length === 2 && typeof h[0] === "string" && typeof h[1] === "string")

/**
 * NDJSON as `@effect/rpc` speaks it, refusing requests whose `headers` are not
 * a list of `[name, value]` string pairs (and giving an empty list to those
 * without). The RPC server hands them to `Headers.fromInput` after decoding,
 * outside its own error handling, so a number there, or no headers at all,
 * was a defect (an HTTP 500). It also refuses `Eof`: that message is the
 * server's own end-of-input marker (the HTTP protocol appends it after the
 * body), and one sent by a client ended its request early, interrupted, which
 * was answered as if the server were shutting down. A decoding error is
 * answered in the protocol, as a `Defect` message, like broken JSON.
 */
export const checkedNdjson: RpcSerialization.RpcSerialization["Type"] = RpcSerialization.RpcSerialization.of({
  ...RpcSerialization.ndjson,
  unsafeMake: () => {
    const parser = RpcSerialization.ndjson.unsafeMake()
    return {
      ...parser,
      decode: (data) =>
        parser.decode(data).map((message) => {
          const m = message as { readonly _tag?: unknown; readonly headers?: unknown }
          if (m === null || typeof m !== "object") return message
          if (m._tag === "Eof") throw new TypeError("Eof is not a client message")
          if (m._tag !== "Request") return message
          // The server appends them to the HTTP request's headers: left out, they would be one undefined entry.
          if (m.headers === undefined) return { ...m, headers: [] }
          if (!isHeaderList(m.headers)) throw new TypeError("request headers must be a list of [name, value] string pairs")
          return message
        })
    }
  }
})

export const layerCheckedNdjson = Layer.succeed(RpcSerialization.RpcSerialization, checkedNdjson)
