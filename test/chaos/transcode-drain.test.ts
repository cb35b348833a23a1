import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { freshDatabase, query } from "../support/database.js"
import { type RunningServer, startServer, tempDataDir, waitUntil } from "../support/server.js"
import { uploadTrack, waitForTrack } from "../support/tracks.js"
import { filesUnder, killMentioning, processesMentioning } from "./support.js"

const db = await freshDatabase("transcode_drain")
const work = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-drain-"))
let longTrack: string

const dataDirs: Array<string> = []
afterAll(() => {
  for (const dir of dataDirs) killMentioning(dir)
  NodeFs.rmSync(work, { recursive: true, force: true })
})

const jobOf = async (trackId: string) =>
  (await query<any>(db, "select status, attempts, progress, lease_owner, output_prefix from transcode_jobs where track_id = $1", [trackId]))[0]

const startWorker = (dataDir: string, env: Record<string, string> = {}) =>
  startServer({ DATABASE_URL: db, DATA_DIR: dataDir, TRANSCODE_CONCURRENCY: "1", ...env })

beforeAll(async () => {
  longTrack = await generateAudio(work, { seconds: 60, format: "mp3", name: "long.mp3" })
}, 120_000)

describe("transcode drain on shutdown", () => {
  it("SIGTERM mid-transcode: exit 0, FFmpeg gone, no partial output, job queued; a restart publishes it", async () => {
    const dataDir = tempDataDir()
    dataDirs.push(dataDir)
    const first: RunningServer = await startWorker(dataDir, { SHUTDOWN_GRACE_MS: "500" })
    const creator = await registerUser(first.baseUrl, { account_type: "creator" })
    const up = await uploadTrack(first.baseUrl, creator.access_token, { path: longTrack })
    expect(up.status).toBe(201)
    const trackId: string = up.body.id
    await waitUntil("the job to be running with FFmpeg", async () => {
      const job = await jobOf(trackId)
      return job.status === "running" && job.progress >= 3 && processesMentioning(dataDir).length > 0
    })
    const outputPrefix = (await jobOf(trackId)).output_prefix as string

    const stoppedAt = Date.now()
    const code = await first.stop("SIGTERM")
    expect(code).toBe(0)
    expect(Date.now() - stoppedAt).toBeLessThan(8_000)
    expect(first.logs.some((l) => l.message === "grace period over, interrupting transcode jobs")).toBe(true)
    expect(first.logs.some((l) => l.message === "transcode interrupted; job released to the queue")).toBe(true)

    expect(processesMentioning(dataDir)).toEqual([])
    expect(filesUnder(NodePath.join(dataDir, "storage", outputPrefix))).toEqual([])
    expect(filesUnder(NodePath.join(dataDir, "storage", "hls", trackId))).toEqual([])
    const released = await jobOf(trackId)
    expect(released).toMatchObject({ status: "queued", attempts: 0, progress: 0, lease_owner: null, output_prefix: null })

    const second = await startWorker(dataDir)
    const ready = await waitForTrack(second.baseUrl, creator.access_token, trackId, undefined, 90_000)
    expect(ready.transcode).toMatchObject({ status: "done", attempts: 1 })
    expect((await fetch(`${second.baseUrl}${ready.hls_url}`)).status).toBe(200)
    expect(await second.stop("SIGTERM")).toBe(0)
  }, 180_000)

  it("a worker killed with SIGKILL loses its lease and another worker takes the job over", async () => {
    const dataDir = tempDataDir()
    dataDirs.push(dataDir)
    const env = { JOB_LEASE_MS: "2000", JOB_POLL_INTERVAL_MS: "200" }
    const doomed = await startWorker(dataDir, env)
    const creator = await registerUser(doomed.baseUrl, { account_type: "creator" })
    const up = await uploadTrack(doomed.baseUrl, creator.access_token, { path: longTrack })
    const trackId: string = up.body.id
    await waitUntil("the first worker to run the job", async () => {
      const job = await jobOf(trackId)
      return job.status === "running" && job.progress >= 3
    })
    const firstOwner = (await jobOf(trackId)).lease_owner
    await doomed.stop("SIGKILL")
    // Its FFmpeg lost its pipes with it; make sure it is gone before the rescue.
    killMentioning(dataDir)

    const rescuer = await startWorker(dataDir, { ...env, VEZA_ROLES: "stream,api" })
    const ready = await waitForTrack(rescuer.baseUrl, creator.access_token, trackId, undefined, 90_000)
    expect(ready.transcode).toMatchObject({ status: "done", attempts: 2 })
    const job = await jobOf(trackId)
    expect(job.lease_owner).toBeNull()
    expect(rescuer.logs.some((l) => l.message === "transcode started" && l.annotations["track_id"] === trackId)).toBe(true)
    expect(firstOwner).not.toBeNull()
    // Only the published attempt's files remain under the track.
    const [row] = await query<any>(db, "select hls_prefix from tracks where id = $1", [trackId])
    const attempts = NodeFs.readdirSync(NodePath.join(dataDir, "storage", "hls", trackId))
    expect(attempts).toEqual([NodePath.basename(row.hls_prefix)])
  }, 180_000)
})
