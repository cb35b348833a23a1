import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { ffmpegBinary, generateAudio } from "../support/audio.js"
import { freshDatabase, query } from "../support/database.js"
import { http, startServer, tempDataDir } from "../support/server.js"
import { uploadTrack, waitForTrack } from "../support/tracks.js"

const db = await freshDatabase("transcode_retries")
const work = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-retries-"))
afterAll(() => NodeFs.rmSync(work, { recursive: true, force: true }))

/**
 * An FFmpeg that answers `-version` (so the server starts) but fails every
 * transcode, the way a broken codec or a full disk would.
 */
let brokenFfmpeg: string
let song: string
beforeAll(async () => {
  brokenFfmpeg = NodePath.join(work, "broken-ffmpeg")
  NodeFs.writeFileSync(
    brokenFfmpeg,
    `#!/bin/sh\ncase " $* " in *" -filter_complex "*) echo "simulated encoder failure" >&2; exit 1;; esac\nexec "${ffmpegBinary()}" "$@"\n`,
    { mode: 0o755 }
  )
  song = await generateAudio(work, { seconds: 5, format: "mp3", name: "retry.mp3" })
}, 60_000)

describe("failed transcodes", () => {
  it("are retried with backoff, then fail the job and the track with the error; a new transcode can still publish", async () => {
    const dataDir = tempDataDir()
    const broken = await startServer({
      DATABASE_URL: db,
      DATA_DIR: dataDir,
      FFMPEG_PATH: brokenFfmpeg,
      JOB_MAX_ATTEMPTS: "3",
      JOB_RETRY_BASE_MS: "300",
      JOB_POLL_INTERVAL_MS: "100"
    })
    const creator = await registerUser(broken.baseUrl, { account_type: "creator" })
    const up = await uploadTrack(broken.baseUrl, creator.access_token, { path: song })
    expect(up.status).toBe(201)

    const failed = await waitForTrack(broken.baseUrl, creator.access_token, up.body.id, (t) => t.status === "failed", 30_000)
    expect(failed.transcode).toMatchObject({ status: "failed", attempts: 3, max_attempts: 3 })
    expect(failed.transcode.last_error).toContain("simulated encoder failure")
    expect(failed.hls_url).toBeNull()
    // Backoff: the three attempts were spread over at least 300 + 600 ms.
    const starts = broken.logs
      .filter((l) => l.message === "transcode started" && l.annotations["track_id"] === up.body.id)
      .map((l) => Date.parse((l as unknown as { timestamp: string }).timestamp))
    expect(starts).toHaveLength(3)
    expect(starts[2]! - starts[0]!).toBeGreaterThanOrEqual(900)
    const outcomes = await (await fetch(`${broken.baseUrl}/metrics`)).text()
    expect(outcomes).toMatch(/veza_transcode_jobs_total\{outcome="queued"\} 2/)
    expect(outcomes).toMatch(/veza_transcode_jobs_total\{outcome="failed"\} 1/)
    // Nothing of the failed attempts is left in storage.
    expect(NodeFs.existsSync(NodePath.join(dataDir, "storage", "hls", up.body.id))).toBe(false)
    expect(await broken.stop()).toBe(0)

    const fixed = await startServer({ DATABASE_URL: db, DATA_DIR: dataDir })
    const again = await http(fixed.baseUrl, "POST", `/api/v1/tracks/${up.body.id}/transcode`, { token: creator.access_token })
    expect(again.status).toBe(202)
    expect(again.body.status).toBe("processing")
    const ready = await waitForTrack(fixed.baseUrl, creator.access_token, up.body.id)
    expect(ready.transcode).toMatchObject({ status: "done", attempts: 1, last_error: null })
    const jobs = await query<any>(db, "select status from transcode_jobs where track_id = $1 order by created_at", [up.body.id])
    expect(jobs.map((j) => j.status)).toEqual(["failed", "done"])
  }, 90_000)
})
