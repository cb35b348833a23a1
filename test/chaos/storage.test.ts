import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { freshDatabase, query } from "../support/database.js"
import { discardTornWrites, S3_BUCKET, s3Env, startS3rver } from "../support/s3.js"
import { http, startServer, tempDataDir, waitUntil } from "../support/server.js"
import { crawlHls, uploadTrack, waitForTrack } from "../support/tracks.js"
import { figure, interposer, scratchDir } from "./support.js"

const db = await freshDatabase("chaos_storage")
let song: string
beforeAll(async () => {
  song = await generateAudio(scratchDir("audio"), { seconds: 12, format: "mp3", name: "s3.mp3" })
}, 60_000)

/** The attempt folders (`hls/<track>/<attempt>`) that hold at least one object in the s3rver's directory. */
const attemptsStored = (s3dir: string, trackId: string) => {
  const root = NodePath.join(s3dir, S3_BUCKET, "hls", trackId)
  if (!NodeFs.existsSync(root)) return []
  return NodeFs.readdirSync(root).filter((attempt) =>
    NodeFs.readdirSync(NodePath.join(root, attempt), { recursive: true }).some((f) => String(f).endsWith("._S3rver_object"))
  )
}

const latestJob = async (trackId: string) =>
  (await query<any>(db, "select status, attempts, output_prefix, last_error from transcode_jobs where track_id = $1 order by created_at desc limit 1", [trackId]))[0]

describe("S3 stopped mid-publish", () => {
  it("the re-transcode fails and retries cleanly, leaves no partial prefix, and the published HLS stays playable throughout", async () => {
    const s3dir = scratchDir("s3")
    let s3 = await startS3rver(s3dir)
    const s3Port = s3.port
    // S3 dies at the first upload of the re-transcode that follows a stored one: mid-publish, whatever the machine's speed.
    let cut: { trackId: string; skipAttempt: string; at?: number; attempt?: string } | undefined
    const front = await interposer(s3Port, async (method, url) => {
      if (cut === undefined || cut.at !== undefined || method !== "PUT") return
      const match = new RegExp(`/hls/${cut.trackId}/([0-9a-f-]{36})/`).exec(url)
      if (match === null || match[1] === cut.skipAttempt) return
      if (!attemptsStored(s3dir, cut.trackId).includes(match[1]!)) return
      cut.attempt = match[1]
      cut.at = Date.now()
      await s3.kill()
    })
    const server = await startServer({
      DATABASE_URL: db,
      DATA_DIR: tempDataDir(),
      ...s3Env(front.port),
      TRANSCODE_CONCURRENCY: "1",
      JOB_MAX_ATTEMPTS: "5",
      JOB_RETRY_BASE_MS: "1000",
      JOB_POLL_INTERVAL_MS: "200"
    })
    try {
      const creator = await registerUser(server.baseUrl, { account_type: "creator" })
      const up = await uploadTrack(server.baseUrl, creator.access_token, { path: song })
      expect(up.status).toBe(201)
      const trackId: string = up.body.id
      const first = await waitForTrack(server.baseUrl, creator.access_token, trackId, undefined, 90_000)
      const firstCrawl = await crawlHls(server.baseUrl + first.hls_url)
      const firstUrls = Array.from(firstCrawl.statuses.keys()).filter((u) => !u.endsWith("/master.m3u8"))
      expect(firstUrls.length).toBeGreaterThan(10)
      expect(Array.from(firstCrawl.statuses.values()).every((s) => s === 200)).toBe(true)
      const [published] = await query<{ hls_prefix: string }>(db, "select hls_prefix from tracks where id = $1", [trackId])
      const firstAttempt = NodePath.basename(published!.hls_prefix)

      cut = { trackId, skipAttempt: firstAttempt }
      expect((await http(server.baseUrl, "POST", `/api/v1/tracks/${trackId}/transcode`, { token: creator.access_token })).status).toBe(202)
      await waitUntil("S3 to be stopped mid-publish", () => cut?.at !== undefined, 60_000)
      const stoppedAt = cut.at!
      const cutAttempt = cut.attempt!
      expect(attemptsStored(s3dir, trackId)).toContain(cutAttempt)
      expect(NodeFs.existsSync(NodePath.join(s3dir, S3_BUCKET, "hls", trackId, cutAttempt, "master.m3u8._S3rver_object"))).toBe(false)

      // While S3 is away: the track is still the published one, readiness says storage is down.
      await waitUntil("the cut attempt to fail", async () => (await latestJob(trackId)).last_error !== null, 30_000)
      const failedAttempt = await latestJob(trackId)
      // Back in the queue for a retry (or already retried, on a slow machine): not failed for good.
      expect(["queued", "running"]).toContain(failedAttempt.status)
      const during = await http(server.baseUrl, "GET", `/api/v1/tracks/${trackId}`, { token: creator.access_token })
      expect(during.body).toMatchObject({ status: "ready", hls_url: first.hls_url })
      const ready = await http(server.baseUrl, "GET", "/readyz")
      expect(ready.status).toBe(503)
      expect(ready.body.checks.storage).not.toBe("ok")

      // Listeners get a clean 503 for what is not cached, never a 500.
      const masterDuring = await fetch(server.baseUrl + first.hls_url)
      expect([200, 503]).toContain(masterDuring.status)

      // The kill may have cut a write short, which S3 would not have stored at all.
      const tornWrites = discardTornWrites(s3dir)
      s3 = await startS3rver(s3dir, S3_BUCKET, s3Port)
      const restartedAt = Date.now()
      // The first publication plays, file by file, whatever the retry is doing.
      for (const url of firstUrls) expect((await fetch(url)).status, url).toBe(200)

      const done = await waitForTrack(server.baseUrl, creator.access_token, trackId, (t) => t.transcode?.status === "done" && t.hls_url !== null, 60_000)
      const publishedAfterMs = Date.now() - restartedAt
      expect(done.transcode.attempts).toBeGreaterThanOrEqual(2)
      const [republished] = await query<{ hls_prefix: string }>(db, "select hls_prefix from tracks where id = $1", [trackId])
      const newAttempt = NodePath.basename(republished!.hls_prefix)
      expect(newAttempt).not.toBe(cutAttempt)
      const newCrawl = await crawlHls(server.baseUrl + done.hls_url)
      expect(Array.from(newCrawl.statuses.values()).every((s) => s === 200)).toBe(true)
      for (const url of firstUrls) expect((await fetch(url)).status, url).toBe(200)

      // Only published attempts remain: what the cut attempt had stored is swept once S3 is back.
      await waitUntil("the cut attempt's objects to be deleted", () => !attemptsStored(s3dir, trackId).includes(cutAttempt), 15_000).catch(async (e) => {
        const retired = await query(db, "select prefix, delete_after, now() as now from hls_retired_prefixes where track_id = $1", [trackId])
        const warnings = server.stdout.filter((l) => /WARN|ERROR|retired|sweep|prefix/i.test(l)).slice(-30)
        const left = NodeFs.readdirSync(NodePath.join(s3dir, S3_BUCKET, "hls", trackId, cutAttempt), { recursive: true }).slice(0, 60)
        throw new Error(`${e.message}; retired rows ${JSON.stringify(retired)}; files left ${JSON.stringify(left)}; log ${warnings.slice(-3).join("\n")}`)
      })
      expect(attemptsStored(s3dir, trackId).sort()).toEqual([firstAttempt, newAttempt].sort())

      figure("s3-stop-mid-publish", {
        outage_ms: restartedAt - stoppedAt,
        torn_writes_discarded: tornWrites.length,
        cut_attempt_error: String(failedAttempt.last_error).slice(0, 80),
        attempts_until_published: done.transcode.attempts,
        published_after_s3_back_ms: publishedAfterMs,
        first_publication_files_checked: firstUrls.length
      })
    } finally {
      await server.stop()
      await s3.stop()
    }
  }, 150_000)
})
