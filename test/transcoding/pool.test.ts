import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { freshDatabase, query } from "../support/database.js"
import { startServer, tempDataDir } from "../support/server.js"
import { crawlHls, uploadTrack, waitForTrack } from "../support/tracks.js"

const db = await freshDatabase("transcode_pool")
const work = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-pool-"))
afterAll(() => NodeFs.rmSync(work, { recursive: true, force: true }))

describe("several stream workers", () => {
  it("share one queue: every job runs once, both take work, the configured ladder is used", async () => {
    const dataDir = tempDataDir()
    const shared = { DATABASE_URL: db, DATA_DIR: dataDir, HLS_LADDER_KBPS: "96,48", JOB_POLL_INTERVAL_MS: "100", TRANSCODE_CONCURRENCY: "1" }
    const api = await startServer({ ...shared, VEZA_ROLES: "api,stream" })
    const worker = await startServer({ ...shared, VEZA_ROLES: "stream" })
    const creator = await registerUser(api.baseUrl, { account_type: "creator" })
    const file = await generateAudio(work, { seconds: 20, format: "mp3", kind: "noise", name: "pool.mp3" })

    const ids: Array<string> = []
    for (let i = 0; i < 6; i++) {
      const up = await uploadTrack(api.baseUrl, creator.access_token, { path: file }, { title: `take ${i}` })
      expect(up.status).toBe(201)
      ids.push(up.body.id)
    }
    const tracks = await Promise.all(ids.map((id) => waitForTrack(api.baseUrl, creator.access_token, id, undefined, 120_000)))
    for (const t of tracks) {
      expect(t.transcode).toMatchObject({ status: "done", attempts: 1 })
      expect(t.renditions.map((r: any) => r.bitrate_kbps)).toEqual([48, 96])
    }
    const ranBy = (server: typeof api) =>
      server.logs.filter((l) => l.message === "transcode published" && ids.includes(String(l.annotations["track_id"]))).length
    expect(ranBy(api) + ranBy(worker)).toBe(6)
    expect(ranBy(api)).toBeGreaterThan(0)
    expect(ranBy(worker)).toBeGreaterThan(0)
    const jobs = await query<any>(db, "select count(*)::int as n from transcode_jobs where status = 'done' and attempts = 1")
    expect(jobs[0].n).toBe(6)

    // The stream-only process serves HLS (public track, from another origin) but not the API.
    const crawl = await crawlHls(`${worker.baseUrl}${tracks[0].hls_url}`, { origin: "http://player.example" })
    expect([...crawl.statuses.values()].every((s) => s === 200)).toBe(true)
    expect(crawl.master!.split("\n").filter((l) => l.startsWith("#EXT-X-STREAM-INF"))).toHaveLength(2)
    const cors = await fetch(`${worker.baseUrl}${tracks[0].hls_url}`, { headers: { origin: "http://player.example" } })
    expect(cors.headers.get("access-control-allow-origin")).toBe("http://player.example")
    expect((await fetch(`${worker.baseUrl}/api/v1/tracks/${ids[0]}`)).status).toBe(404)
  }, 180_000)
})
