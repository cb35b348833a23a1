import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { freshDatabase, query } from "../support/database.js"
import { filesUnder, processesMentioning } from "../chaos/support.js"
import { type RunningServer, startServer, tempDataDir, waitUntil } from "../support/server.js"
import { crawlHls, uploadTrack, waitForTrack } from "../support/tracks.js"

const db = await freshDatabase("transcode_publish")
const work = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-publish-"))
afterAll(() => NodeFs.rmSync(work, { recursive: true, force: true }))

let song: string
let longSong: string
beforeAll(async () => {
  song = await generateAudio(work, { seconds: 8, format: "mp3", name: "publish.mp3" })
  longSong = await generateAudio(work, { seconds: 60, format: "mp3", name: "long.mp3" })
}, 120_000)

/**
 * Fault injection in the database: the publish transaction (which has
 * already taken the job's row) stalls for longer than a lease period, so
 * lease renewals queue up behind it and come back after the commit finding
 * no lease, and a shutdown can arrive in the middle of it.
 */
const slowPublish = (ms: number) =>
  query(
    db,
    `create or replace function test_slow_publish() returns trigger language plpgsql as $$
     begin
       if new.status = 'ready' and old.status is distinct from 'ready' then perform pg_sleep(${ms / 1000}); end if;
       return new;
     end $$;
     drop trigger if exists test_slow_publish on tracks;
     create trigger test_slow_publish before update on tracks for each row execute function test_slow_publish();`
  )

const publishedFilesServe = async (baseUrl: string, hlsUrl: string) => {
  const crawl = await crawlHls(`${baseUrl}${hlsUrl}`)
  expect(crawl.statuses.size).toBeGreaterThan(4)
  expect([...crawl.statuses].filter(([, status]) => status !== 200)).toEqual([])
}

/** Three uploads one after another, each then transcoded once and serving its files; their ids in upload order. */
const threeTracksPublished = async (server: RunningServer, title: string) => {
  const creator = await registerUser(server.baseUrl, { account_type: "creator" })
  const ids: Array<string> = []
  for (let i = 0; i < 3; i++) {
    const up = await uploadTrack(server.baseUrl, creator.access_token, { path: song }, { title: `${title} ${i}` })
    expect(up.status).toBe(201)
    ids.push(up.body.id)
  }
  for (const id of ids) {
    const ready = await waitForTrack(server.baseUrl, creator.access_token, id, undefined, 60_000)
    expect(ready.transcode).toMatchObject({ status: "done", attempts: 1 })
    await publishedFilesServe(server.baseUrl, ready.hls_url)
  }
  return ids
}

describe("publishing a transcode", () => {
  it("stays published when lease renewals meet the commit: nothing of the served prefix is deleted", async () => {
    const server = await startServer({ DATABASE_URL: db, DATA_DIR: tempDataDir(), JOB_LEASE_MS: "1000", TRANSCODE_CONCURRENCY: "2" })
    await slowPublish(1500)
    await threeTracksPublished(server, "publish")
    expect(server.logs.filter((l) => l.message.includes("lease lost"))).toEqual([])
    expect(await server.stop()).toBe(0)
  }, 90_000)

  it("the next job's FFmpeg runs while a finished one publishes, and at most two jobs per slot are held", async () => {
    const server = await startServer({ DATABASE_URL: db, DATA_DIR: tempDataDir(), TRANSCODE_CONCURRENCY: "1" })
    await slowPublish(3000)
    const ids = await threeTracksPublished(server, "overlap")
    const order = server.logs
      .filter((l) => l.message === "transcode started" || l.message === "transcode published")
      .map((l) => `${l.message === "transcode started" ? "start" : "publish"} ${ids.indexOf(String(l.annotations["track_id"]))}`)
    // One slot: the second job starts while the first is still in its (3 s) publish;
    // the third waits for the first to end, as two jobs are already held.
    expect(order).toEqual(["start 0", "start 1", "publish 0", "start 2", "publish 1", "publish 2"])
    await query(db, "drop trigger test_slow_publish on tracks")
    expect(await server.stop()).toBe(0)
  }, 90_000)

  it("a shutdown that arrives during the publish lets it commit, and the published files stay; the next job, transcoding meanwhile, is released", async () => {
    const dataDir = tempDataDir()
    const first = await startServer({ DATABASE_URL: db, DATA_DIR: dataDir, SHUTDOWN_GRACE_MS: "100", TRANSCODE_CONCURRENCY: "1" })
    await slowPublish(2000)
    const creator = await registerUser(first.baseUrl, { account_type: "creator" })
    const up = await uploadTrack(first.baseUrl, creator.access_token, { path: song })
    const next = await uploadTrack(first.baseUrl, creator.access_token, { path: longSong })
    await waitUntil("the publish transaction to be waiting in the database", async () => {
      const rows = await query(db, "select 1 from pg_stat_activity where query like '%update tracks set status = ''ready''%' and state = 'active' and pid <> pg_backend_pid()")
      return rows.length > 0
    })
    await waitUntil("the next job's FFmpeg to run", () => processesMentioning(dataDir).length > 0)
    const nextPrefix = (await query<any>(db, "select output_prefix from transcode_jobs where track_id = $1", [next.body.id]))[0].output_prefix as string
    expect(await first.stop("SIGTERM")).toBe(0)
    const released = first.logs.filter((l) => l.message === "transcode interrupted; job released to the queue")
    expect(released.map((l) => l.annotations["track_id"])).toEqual([next.body.id])
    const [job] = await query<any>(db, "select status, lease_owner from transcode_jobs where track_id = $1", [up.body.id])
    expect(job).toMatchObject({ status: "done", lease_owner: null })
    const [queued] = await query<any>(db, "select status, attempts, lease_owner, output_prefix from transcode_jobs where track_id = $1", [next.body.id])
    expect(queued).toMatchObject({ status: "queued", attempts: 0, lease_owner: null, output_prefix: null })
    expect(processesMentioning(dataDir)).toEqual([])
    expect(filesUnder(NodePath.join(dataDir, "storage", nextPrefix))).toEqual([])

    await query(db, "drop trigger test_slow_publish on tracks")
    const second = await startServer({ DATABASE_URL: db, DATA_DIR: dataDir })
    const ready = await waitForTrack(second.baseUrl, creator.access_token, up.body.id, undefined, 5_000)
    await publishedFilesServe(second.baseUrl, ready.hls_url)
    const resumed = await waitForTrack(second.baseUrl, creator.access_token, next.body.id, undefined, 60_000)
    expect(resumed.transcode).toMatchObject({ status: "done", attempts: 1 })
    expect(await second.stop()).toBe(0)
  }, 120_000)
})
