/**
 * GET /api/v1/users/:id against `bench/baseline-server.mjs` (node:http + pg,
 * same SQL, same JSON) on the same fresh database.
 */
import * as NodeCrypto from "node:crypto"
import * as NodeOs from "node:os"
import { adminUrl, DURATION_S, fmt, freshDatabase, load, type LoadResult, type Server, start, stop, tempDataDir, vezaEnv, WARMUP_S } from "./lib.js"

export const runUsers = async (admin: Awaited<ReturnType<typeof adminUrl>>) => {
  const db = await freshDatabase(admin.url)
  const servers: Array<Server> = []
  try {
    const veza = await start("veza", ["dist/src/main.js"], vezaEnv(db.url, tempDataDir()))
    servers.push(veza)
    const username = `bench_${NodeCrypto.randomBytes(4).toString("hex")}`
    const registered = await fetch(`${veza.url}/api/v1/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: `${username}@example.com`, username, password: "benchmark password" })
    }).then((r) => r.json() as Promise<{ user: { id: string } }>)
    const userPath = `/api/v1/users/${registered.user.id}`
    const baseline = await start("node:http + pg", ["bench/baseline-server.mjs"], { DATABASE_URL: db.url })
    servers.push(baseline)

    const same = [await fetch(veza.url + userPath).then((r) => r.json()), await fetch(baseline.url + userPath).then((r) => r.json())]
    const canonical = (o: object) => JSON.stringify(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)))
    if (canonical(same[0] as object) !== canonical(same[1] as object)) throw new Error(`responses differ:\n${JSON.stringify(same)}`)

    console.log(`GET /api/v1/users/:id — ${DURATION_S}s per run after ${WARMUP_S}s warm-up, ${NodeOs.cpus().length} cores, load generator in this process`)
    console.log(`${"server".padEnd(16)}${"conns".padStart(6)}${"req/s".padStart(9)}${"p50 ms".padStart(9)}${"p95 ms".padStart(9)}${"p99 ms".padStart(9)}${"CPU µs/req".padStart(12)}${"non-2xx".padStart(9)}`)
    for (const connections of [50, 10]) {
      const results: Record<string, LoadResult> = {}
      for (const s of [baseline, veza]) {
        await load(s, userPath, 10, WARMUP_S)
        const r = await load(s, userPath, connections, DURATION_S)
        results[s.name] = r
        console.log(`${s.name.padEnd(16)}${String(connections).padStart(6)}${fmt(r.rps)}${fmt(r.p50, 2)}${fmt(r.p95, 2)}${fmt(r.p99, 2)}${fmt(r.cpuUsPerReq, 0).padStart(12)}${fmt(r.non2xx)}`)
      }
      const v = results["veza"]!
      const b = results[baseline.name]!
      console.log(
        `  ratio veza/baseline at ${connections} conns: req/s ${(v.rps / b.rps).toFixed(2)}x, p95 ${(v.p95 / b.p95).toFixed(2)}x, CPU/req ${(v.cpuUsPerReq / b.cpuUsPerReq).toFixed(2)}x`
      )
    }
  } finally {
    await Promise.all(servers.map(stop))
    await db.drop()
  }
}
