import * as NodeHttp from "node:http"
import fc from "fast-check"
import pg from "pg"
import { expect } from "vitest"

/**
 * Shared pieces of the fuzz tests (test/fuzz): hostile values, a raw HTTP
 * client that sends exactly the bytes it is given, the SPEC §4 envelope check
 * and a snapshot of every table's content.
 */

/** One seed per run, printed so a failure can be replayed with FUZZ_SEED=… */
export const FUZZ_SEED = Number(process.env["FUZZ_SEED"] ?? Math.floor(Math.random() * 2 ** 31))
console.log(`fuzz seed ${FUZZ_SEED} (replay with FUZZ_SEED=${FUZZ_SEED})`)

/** Scales every property's number of runs (FUZZ_RUNS_SCALE=10 for a longer local hunt). */
export const runs = (n: number) => Math.max(1, Math.round(n * Number(process.env["FUZZ_RUNS_SCALE"] ?? 1)))

export const fcParams = (numRuns: number) => ({ seed: FUZZ_SEED, numRuns: runs(numRuns), endOnFailure: true })

// ---------------------------------------------------------------- hostile values

export const INJECTIONS = [
  "' OR '1'='1",
  "'; DROP TABLE users; --",
  "1; SELECT pg_sleep(10)--",
  "\\'); delete from tracks; --",
  "$1",
  "%",
  "_",
  "\\",
  "<script>alert(1)</script>",
  "\"><img src=x onerror=alert(1)>",
  "javascript:alert(1)",
  "{{7*7}}${7*7}",
  "../../../../etc/passwd",
  "..%2f..%2fetc%2fpasswd",
  "\r\nSet-Cookie: pwned=1",
  "null",
  "undefined",
  "NaN",
  "true",
  "[]",
  "{}",
  "0x7fffffff",
  "-0",
  "1e309",
  "00000000-0000-0000-0000-000000000000",
  "ffffffff-ffff-ffff-ffff-ffffffffffff"
]

export const UNICODE_EDGES = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\uD800",
  "\uDFFF\uD800",
  "\uFEFF",
  "\u202Eevil\u202C",
  "e\u0301\u0301\u0301\u0301",
  "👩‍👩‍👧‍👦",
  "🏳️‍🌈".repeat(50),
  "İıßﬃẞ",
  "Ｆｕｌｌｗｉｄｔｈ",
  "\u200B\u200C\u200D",
  "\t\n\r\v\f",
  "Z̷̢̛̛̤̬͎͓̠̮̤̣͇̿̓̓͂a̶̧̺̯̖͙̞̪̓̉͆̉ļ̸̢̛̹̥̹̼͉̟͎͗̌̒g̷̨̤̭̙̯̿o̵",
  "\u{10FFFF}",
  "\uFFFD\uFFFE\uFFFF"
]

export const PROTO_KEYS = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf"]

export const HUGE_NUMBERS = [
  0,
  -0,
  -1,
  1.5,
  2 ** 31,
  -(2 ** 31) - 1,
  2 ** 53 + 2,
  -(2 ** 53) - 2,
  1e21,
  1.7976931348623157e308,
  -1.7976931348623157e308,
  5e-324
]

const hostileString = fc.oneof(
  fc.constantFrom(...INJECTIONS),
  fc.constantFrom(...UNICODE_EDGES),
  fc.string16bits({ maxLength: 40 }),
  fc.fullUnicodeString({ maxLength: 40 }),
  fc.constantFrom(...UNICODE_EDGES, ...INJECTIONS).chain((s) => fc.integer({ min: 100, max: 20_000 }).map((n) => s.repeat(Math.ceil(n / Math.max(1, s.length))) || "x".repeat(n)))
)

const pollutionObject = fc.constantFrom<unknown>(
  JSON.parse('{"__proto__":{"role":"admin","is_admin":true,"polluted":1}}'),
  { constructor: { prototype: { polluted: 1 } } },
  JSON.parse('{"__proto__":null}'),
  { toString: "x", valueOf: 1, hasOwnProperty: null }
)

/** Any JSON value chosen to hurt: the building block for fields, bodies and frames. */
export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 2, arbitrary: fc.constantFrom<unknown>(...HUGE_NUMBERS) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, true, false, [], {}, [null], [[[]]]) },
  { weight: 1, arbitrary: pollutionObject },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.array(hostileString, { maxLength: 5 }) }
)

/** A string that fits in a URL component: the hostile strings, percent-encoded, or raw bytes that break decoding. */
export const hostileUrlPart: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: hostileString.map((s) => encodeURIComponent(toWellFormed(s)).slice(0, 6000)) },
  { weight: 1, arbitrary: fc.constantFrom("%", "%ZZ", "%E0%A4%A", "%C0%AE%C0%AE", "%00", "..", ".", "%2e%2e", "%2F", "a%2Fb", "%u0000", "+", "%20") },
  { weight: 1, arbitrary: fc.constantFrom(...HUGE_NUMBERS.map(String), "1e400", "123456789012345678901234567890", "-1", "0x10", " 1") }
)

/** Lone surrogates cannot be percent-encoded; the raw-bytes cases cover malformed encodings instead. */
export const toWellFormed = (s: string) => s.replace(/[\uD800-\uDFFF]/g, (c, i: number, all: string) => {
  const code = c.charCodeAt(0)
  if (code <= 0xdbff && /[\uDC00-\uDFFF]/.test(all[i + 1] ?? "")) return c
  if (code >= 0xdc00 && /[\uD800-\uDBFF]/.test(all[i - 1] ?? "")) return c
  return "\uFFFD"
})

/** Header values: the hostile strings as the raw UTF-8 bytes a client could send, minus what HTTP/1.1 framing forbids. */
export const asHeaderValue = (s: string) =>
  Buffer.from(toWellFormed(s), "utf8")
    .toString("latin1")
    .replace(/[\x00-\x08\x0a-\x1f\x7f]/g, "")
    .slice(0, 7000)
    .trim()

/** Raw request bodies no parser should choke on: deep nesting, duplicate keys, broken and huge JSON. */
export const rawJsonBody = (valid: unknown): fc.Arbitrary<string> => {
  const text = JSON.stringify(valid) ?? "null"
  return fc.oneof(
    fc.integer({ min: 1000, max: 200_000 }).map((n) => "[".repeat(n) + "]".repeat(n)),
    fc.integer({ min: 1000, max: 100_000 }).map((n) => '{"a":'.repeat(n) + "1" + "}".repeat(n)),
    hostileJson.map((v) => (text.startsWith("{") && text !== "{}" ? `${text.slice(0, -1)},${text.slice(1, -1)},"__proto__":${JSON.stringify(v)}}` : `{"a":1,"a":${JSON.stringify(v)}}`)),
    fc.constantFrom("", "{", "}", "nul", "{'single': 1}", '{"a":1,}', "\uFEFF{}", '{"a":1e400}', '{"a":123456789012345678901234567890123}', '{"a":"\\ud800"}', '{"a":"\\u0000"}'),
    fc.nat({ max: Math.max(0, text.length - 1) }).map((n) => text.slice(0, n)),
    fc.constant(JSON.stringify({ filler: "x".repeat(3 * 1024 * 1024) }))
  )
}

// ---------------------------------------------------------------- raw HTTP

export interface RawResponse {
  readonly status: number
  readonly headers: NodeHttp.IncomingHttpHeaders
  readonly text: string
  /**
   * The server closed the connection while a body over OVERSIZE_BODY_BYTES
   * was still being sent (it answers 413 without reading such bodies, and the
   * answer can be lost to the reset). Only ever accepted for such bodies.
   */
  readonly resetWhileSending?: true
}

/** Bodies above this are refused unread by the server (MAX_JSON_BODY_BYTES, 1 MiB by default). */
export const OVERSIZE_BODY_BYTES = 1024 * 1024

/**
 * One request with exactly these bytes (node's fetch would normalise paths
 * and refuse some headers), on its own connection, failing after timeoutMs:
 * a hang is a finding, not a slow test.
 */
export const rawRequest = (
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string | Buffer,
  timeoutMs = 15_000
): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    const url = new URL(baseUrl)
    // Node frames GET and DELETE bodies only when told their length.
    const framed = body === undefined ? headers : { ...headers, "content-length": String(Buffer.byteLength(body)) }
    // What Node refuses to put on the request line (spaces, non-latin1) goes percent-encoded.
    const line = path.replace(/[^\u0021-\u00ff]/gu, (c) => encodeURIComponent(toWellFormed(c)))
    const req = NodeHttp.request({ host: url.hostname, port: url.port, method, path: line, headers: framed, agent: false }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }))
      res.on("error", reject)
    })
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path.slice(0, 200)}: no answer within ${timeoutMs} ms`)))
    req.on("error", (e: NodeJS.ErrnoException) => {
      const oversize = body !== undefined && Buffer.byteLength(body) > OVERSIZE_BODY_BYTES
      if (oversize && (e.code === "EPIPE" || e.code === "ECONNRESET")) resolve({ status: 413, headers: {}, text: "", resetWhileSending: true })
      else reject(e)
    })
    req.end(body)
  })

const STACK = /\bat .+\.(js|ts):\d+|node:internal|\/dist\/src\//

/** SPEC §4: a 4xx is `{ error: { code, message, details? } }` and nothing else; no answer leaks a stack. */
export const expectEnvelope = (res: RawResponse, what: string) => {
  if (res.resetWhileSending === true) return
  expect(STACK.test(res.text), `${what}: stack trace in ${res.text.slice(0, 300)}`).toBe(false)
  if (res.status < 400) return
  let body: any
  try {
    body = JSON.parse(res.text)
  } catch {
    throw new Error(`${what}: ${res.status} without a JSON body: ${res.text.slice(0, 200)}`)
  }
  expect(Object.keys(body), `${what}: ${res.text.slice(0, 300)}`).toEqual(["error"])
  expect(typeof body.error.code, what).toBe("string")
  expect(typeof body.error.message, what).toBe("string")
  for (const k of Object.keys(body.error)) expect(["code", "message", "details"], `${what}: ${k}`).toContain(k)
  if (res.status === 429) expect(res.headers["retry-after"], `${what}: 429 without Retry-After`).toBeDefined()
}

// ---------------------------------------------------------------- database snapshots

/**
 * Bookkeeping that a refused request may legitimately write: failed logins are
 * counted (brute-force limits) and audited.
 */
export const BOOKKEEPING_TABLES = new Set(["login_attempts", "audit_logs", "schema_migrations"])

/** A persistent connection that fingerprints every table's rows (md5 of their text, in order). */
export const snapshotter = async (databaseUrl: string) => {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  const tables = (await client.query<{ relname: string }>("select relname from pg_stat_user_tables order by relname")).rows
    .map((r) => r.relname)
    .filter((t) => !BOOKKEEPING_TABLES.has(t))
  const sql = tables.map((t) => `select '${t}' as t, count(*)::int as n, md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as h from ${t} x`).join(" union all ")
  const take = async () => {
    const rows = (await client.query<{ t: string; n: number; h: string }>(sql)).rows
    return Object.fromEntries(rows.map((r) => [r.t, `${r.n}:${r.h}`]))
  }
  /** The tables whose content differs between two snapshots. */
  const diff = (a: Record<string, string>, b: Record<string, string>) => tables.filter((t) => a[t] !== b[t])
  return { take, diff, close: () => client.end() }
}
