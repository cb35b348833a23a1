import * as NodeFs from "node:fs"
import * as NodeHttp from "node:http"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { freshDatabase, query } from "../support/database.js"
import { S3_BUCKET, s3Env, startS3rver } from "../support/s3.js"
import { http, type RunningServer, startServer, tempDataDir } from "../support/server.js"
import { crawlHls, playlistUris, uploadTrack, waitForTrack } from "../support/tracks.js"

const work = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-streaming-"))
afterAll(() => NodeFs.rmSync(work, { recursive: true, force: true }))

const MAX_UPLOAD = 3_000_000

/** Where a backend keeps its objects, as the tests look at it: from outside the server. */
interface ObjectView {
  readonly keys: (prefix: string) => Promise<ReadonlyArray<string>>
  readonly size: (key: string) => Promise<number>
}

const localView = (dataDir: string): ObjectView => ({
  keys: async (prefix) => {
    const root = NodePath.join(dataDir, "storage", prefix)
    if (!NodeFs.existsSync(root)) return []
    return NodeFs.readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => NodePath.join(e.parentPath, e.name))
  },
  size: async (key) => NodeFs.statSync(NodePath.join(dataDir, "storage", key)).size
})

const s3View = (port: number): ObjectView => {
  const client = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" }
  })
  const list = async (prefix: string) => {
    const out = await client.send(new ListObjectsV2Command({ Bucket: S3_BUCKET, Prefix: prefix }))
    return out.Contents ?? []
  }
  return {
    keys: async (prefix) => (await list(prefix)).map((o) => o.Key!),
    size: async (key) => (await list(key)).find((o) => o.Key === key)?.Size ?? -1
  }
}

describe.each(["local", "s3"] as const)("%s storage", (backend) => {
  let server: RunningServer
  let dataDir: string
  let db: string
  let objects: ObjectView
  let creator: Awaited<ReturnType<typeof registerUser>>
  let listener: Awaited<ReturnType<typeof registerUser>>
  let song: string
  const storedObjects = (prefix: string) => objects.keys(prefix)
  let stopS3: (() => Promise<void>) | undefined
  afterAll(() => stopS3?.())

  beforeAll(async () => {
    db = await freshDatabase(`streaming_${backend}`)
    dataDir = tempDataDir()
    let storageEnv: Record<string, string> = {}
    if (backend === "s3") {
      const s3 = await startS3rver(NodeFs.mkdtempSync(NodePath.join(work, "s3rver-")))
      stopS3 = s3.stop
      storageEnv = s3Env(s3.port)
      objects = s3View(s3.port)
    } else {
      objects = localView(dataDir)
    }
    server = await startServer({
      DATABASE_URL: db,
      DATA_DIR: dataDir,
      MAX_UPLOAD_BYTES: String(MAX_UPLOAD),
      HLS_SEGMENT_SECONDS: "2",
      TRANSCODE_CONCURRENCY: "2",
      HLS_REPLACED_RETENTION_MS: "3000",
      JOB_POLL_INTERVAL_MS: "250",
      ...storageEnv
    })
    creator = await registerUser(server.baseUrl, { account_type: "creator" })
    listener = await registerUser(server.baseUrl)
    song = await generateAudio(work, { seconds: 12, format: "mp3", name: `song-${backend}.mp3` })
  }, 60_000)

  describe("upload → transcode → publish", () => {
    it("stores the upload, transcodes the ladder and serves a playable HLS stream", async () => {
      const res = await uploadTrack(server.baseUrl, creator.access_token, { path: song, type: "audio/mpeg" }, { title: "  First light  " })
      expect(res.status, JSON.stringify(res.body)).toBe(201)
      expect(res.body).toMatchObject({ title: "First light", status: "processing", visibility: "public", hls_url: null, codec: "mp3" })
      expect(res.body.duration_ms).toBeGreaterThan(11_900)
      expect(res.body.duration_ms).toBeLessThan(12_200)
      expect(res.body.original_filename).toBe(`song-${backend}.mp3`)
      const [row] = await query<any>(db, "select storage_backend, storage_key from tracks where id = $1", [res.body.id])
      expect(row).toEqual({ storage_backend: backend, storage_key: `tracks/${res.body.id}/original` })
      expect(await objects.size(row.storage_key)).toBe(NodeFs.statSync(song).size)

      const ready = await waitForTrack(server.baseUrl, creator.access_token, res.body.id)
      expect(ready.hls_url).toBe(`/hls/${res.body.id}/master.m3u8`)
      expect(ready.transcode).toMatchObject({ status: "done", progress: 100, attempts: 1, last_error: null })
      expect(ready.renditions.map((r: any) => r.bitrate_kbps)).toEqual([64, 128, 256])
      for (const r of ready.renditions) {
        expect(r.codecs).toBe("mp4a.40.2")
        expect(r.bandwidth).toBeGreaterThanOrEqual(r.average_bandwidth)
      }
      expect(ready.waveform.length).toBeGreaterThan(100)
      expect(Math.max(...ready.waveform)).toBeGreaterThan(0.1)
      expect(ready.waveform.every((p: number) => p >= 0 && p <= 1)).toBe(true)

      // Anyone (no token) plays a public track, down to the last segment.
      const crawl = await crawlHls(`${server.baseUrl}${ready.hls_url}`)
      expect([...crawl.statuses.values()].every((s) => s === 200), JSON.stringify([...crawl.statuses])).toBe(true)
      expect(crawl.statuses.size).toBeGreaterThan(3 * 6)
      expect(crawl.master).toContain("#EXT-X-INDEPENDENT-SEGMENTS")
      expect(crawl.master!.match(/#EXT-X-STREAM-INF:BANDWIDTH=\d+,AVERAGE-BANDWIDTH=\d+,CODECS="mp4a\.40\.2"/g)).toHaveLength(3)

      // Others see the track, but not its transcode details.
      const seen = await http(server.baseUrl, "GET", `/api/v1/tracks/${res.body.id}`)
      expect(seen.status).toBe(200)
      expect(seen.body.transcode).toBeUndefined()
      const logged = server.logs.filter((l) => l.message === "transcode progress" && l.annotations["track_id"] === res.body.id)
      expect(logged.length).toBeGreaterThan(0)
    }, 60_000)

    it("serves HLS files with the right types, caching, ETags and ranges", async () => {
      const up = await uploadTrack(server.baseUrl, creator.access_token, { path: song })
      const track = await waitForTrack(server.baseUrl, creator.access_token, up.body.id)
      const masterUrl = `${server.baseUrl}${track.hls_url}`
      const master = await fetch(masterUrl)
      expect(master.headers.get("content-type")).toBe("application/vnd.apple.mpegurl")
      expect(master.headers.get("cache-control")).toBe("public, max-age=5")
      const masterText = await master.text()
      const playlistUrl = new URL(playlistUris(masterText)[0]!, masterUrl).toString()
      const playlist = await fetch(playlistUrl)
      expect(playlist.headers.get("cache-control")).toBe("public, max-age=31536000, immutable")
      const text = await playlist.text()
      expect(text).toContain("#EXT-X-PLAYLIST-TYPE:VOD")
      expect(text).toContain("#EXT-X-ENDLIST")
      const segmentUrl = new URL(playlistUris(text).find((u) => u.endsWith(".m4s"))!, playlistUrl).toString()

      const whole = await fetch(segmentUrl)
      expect(whole.status).toBe(200)
      expect(whole.headers.get("content-type")).toBe("audio/mp4")
      expect(whole.headers.get("accept-ranges")).toBe("bytes")
      const bytes = Buffer.from(await whole.arrayBuffer())
      expect(Number(whole.headers.get("content-length"))).toBe(bytes.length)
      const etag = whole.headers.get("etag")!
      expect(etag).toMatch(/^".+"$/)

      const notModified = await fetch(segmentUrl, { headers: { "if-none-match": etag } })
      expect(notModified.status).toBe(304)
      expect(await notModified.text()).toBe("")

      const partial = await fetch(segmentUrl, { headers: { range: "bytes=10-99" } })
      expect(partial.status).toBe(206)
      expect(partial.headers.get("content-range")).toBe(`bytes 10-99/${bytes.length}`)
      expect(Buffer.from(await partial.arrayBuffer())).toEqual(bytes.subarray(10, 100))
      const tail = await fetch(segmentUrl, { headers: { range: "bytes=-16" } })
      expect(Buffer.from(await tail.arrayBuffer())).toEqual(bytes.subarray(bytes.length - 16))
      const beyond = await fetch(segmentUrl, { headers: { range: `bytes=${bytes.length}-` } })
      expect(beyond.status).toBe(416)
      expect(beyond.headers.get("content-range")).toBe(`bytes */${bytes.length}`)

      const head = await fetch(segmentUrl, { method: "HEAD" })
      expect(head.status).toBe(200)
      expect(head.headers.get("content-length")).toBe(String(bytes.length))

      const post = await fetch(segmentUrl, { method: "POST" })
      expect(post.status).toBe(405)
      expect(((await post.json()) as any).error.code).toBe("METHOD_NOT_ALLOWED")

      // fetch would resolve the dot segments itself (and the web client answers /etc/passwd with its page): sent as is.
      const traversal = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        NodeHttp.get(`${server.baseUrl}/`, { path: `/hls/${track.id}/../../etc/passwd` }, (res) => {
          let body = ""
          res.on("data", (d) => (body += d))
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
        }).on("error", reject)
      })
      expect(traversal.status).toBe(404)
      expect(JSON.parse(traversal.body).error.code).toBe("NOT_FOUND")
      for (const path of [
        `/hls/${track.id}/..%2F..%2Fetc%2Fpasswd`,
        `/hls/${track.id}/${track.id}/128k/seg_99999.m4s`,
        `/hls/${track.id}/not-a-uuid/128k/seg_00001.m4s`,
        `/hls/${track.id}/master.m3u8x`,
        `/hls/00000000-0000-4000-8000-000000000000/master.m3u8`,
        `/hls/nope/master.m3u8`
      ]) {
        const res = await fetch(`${server.baseUrl}${path}`)
        expect(res.status, path).toBe(404)
        expect(((await res.json()) as any).error.code).toBe("NOT_FOUND")
      }
    }, 60_000)
  })

  describe("upload refusals leave nothing behind", () => {
    it("refuses without a token, for listener accounts, and for bad forms", async () => {
      const tracksBefore = (await query<any>(db, "select count(*)::int as n from tracks"))[0].n
      const noToken = await uploadTrack(server.baseUrl, undefined, { path: song })
      expect(noToken.status).toBe(401)
      const asListener = await uploadTrack(server.baseUrl, listener.access_token, { path: song })
      expect(asListener.status).toBe(403)
      expect(asListener.body.error.code).toBe("FORBIDDEN")

      const noFile = await uploadTrack(server.baseUrl, creator.access_token, undefined, { title: "x" })
      expect(noFile.status).toBe(400)
      expect(noFile.body.error.message).toMatch(/file/)
      const badVisibility = await uploadTrack(server.baseUrl, creator.access_token, { path: song }, { visibility: "secret" })
      expect(badVisibility.status).toBe(400)
      expect(badVisibility.body.error.code).toBe("VALIDATION_ERROR")
      const blankTitle = await uploadTrack(server.baseUrl, creator.access_token, { path: song }, { title: "   " })
      expect(blankTitle.status).toBe(400)
      const unknownField = await uploadTrack(server.baseUrl, creator.access_token, { path: song }, { owner: "admin" })
      expect(unknownField.status).toBe(400)

      const notMultipart = await http(server.baseUrl, "POST", "/api/v1/tracks", { token: creator.access_token, body: { title: "x" } })
      expect(notMultipart.status).toBe(415)
      expect(notMultipart.body.error.code).toBe("UNSUPPORTED_MEDIA_TYPE")

      const tracksAfter = (await query<any>(db, "select count(*)::int as n from tracks"))[0].n
      expect(tracksAfter).toBe(tracksBefore)
    }, 60_000)

    it("415 for files that are not audio, 422 for broken audio, 413 over the limit", async () => {
      const keysBefore = (await storedObjects("tracks")).length
      const tracksBefore = (await query<any>(db, "select count(*)::int as n from tracks"))[0].n

      const text = NodePath.join(work, "notes.mp3")
      NodeFs.writeFileSync(text, "these are not the droids you are looking for\n".repeat(200))
      const notAudio = await uploadTrack(server.baseUrl, creator.access_token, { path: text })
      expect(notAudio.status).toBe(415)
      expect(notAudio.body.error.code).toBe("NOT_AUDIO")

      const image = await generateAudio(work, { kind: "image", name: "cover.png" })
      const imageRes = await uploadTrack(server.baseUrl, creator.access_token, { path: image })
      expect(imageRes.status).toBe(415)

      const corrupt = NodePath.join(work, "corrupt.flac")
      const flac = NodeFs.readFileSync(await generateAudio(work, { seconds: 5, format: "flac", name: "good.flac" }))
      NodeFs.writeFileSync(corrupt, Buffer.concat([flac.subarray(0, 200), Buffer.alloc(4000, 0x5a)]))
      const broken = await uploadTrack(server.baseUrl, creator.access_token, { path: corrupt })
      expect(broken.status).toBe(422)
      expect(broken.body.error.code).toBe("UNDECODABLE_AUDIO")

      const empty = NodePath.join(work, "empty.wav")
      NodeFs.writeFileSync(empty, "")
      const emptyRes = await uploadTrack(server.baseUrl, creator.access_token, { path: empty })
      expect(emptyRes.status).toBe(422)

      const big = await generateAudio(work, { seconds: 40, format: "wav", name: "big.wav" })
      expect(NodeFs.statSync(big).size).toBeGreaterThan(MAX_UPLOAD)
      const tooBig = await uploadTrack(server.baseUrl, creator.access_token, { path: big })
      expect(tooBig.status).toBe(413)
      expect(tooBig.body.error.code).toBe("PAYLOAD_TOO_LARGE")

      // Without a declared length the limit is enforced while reading.
      const boundary = "----veza-test-boundary"
      const head = Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="big.wav"\r\ncontent-type: audio/wav\r\n\r\n`)
      const bigBytes = NodeFs.readFileSync(big)
      const tailBytes = Buffer.from(`\r\n--${boundary}--\r\n`)
      const chunked = await fetch(`${server.baseUrl}/api/v1/tracks`, {
        method: "POST",
        headers: { authorization: `Bearer ${creator.access_token}`, "content-type": `multipart/form-data; boundary=${boundary}` },
        body: new ReadableStream({
          start(controller) {
            controller.enqueue(head)
            for (let i = 0; i < bigBytes.length; i += 65536) controller.enqueue(bigBytes.subarray(i, i + 65536))
            controller.enqueue(tailBytes)
            controller.close()
          }
        }),
        duplex: "half"
      } as RequestInit)
      const chunkedBody = (await chunked.json()) as any
      expect(chunked.status, JSON.stringify(chunkedBody)).toBe(413)
      expect(chunkedBody.error.code).toBe("PAYLOAD_TOO_LARGE")

      expect((await storedObjects("tracks")).length).toBe(keysBefore)
      expect((await query<any>(db, "select count(*)::int as n from tracks"))[0].n).toBe(tracksBefore)
      // Nor do rejected uploads leave temporary files.
      expect(NodeFs.readdirSync(NodePath.join(dataDir, "tmp", "uploads"))).toEqual([])
    }, 60_000)
  })

  describe("who may listen", () => {
    let privateTrack: any
    let unlistedTrack: any
    beforeAll(async () => {
      const p = await uploadTrack(server.baseUrl, creator.access_token, { path: song }, { title: "secret", visibility: "private" })
      const u = await uploadTrack(server.baseUrl, creator.access_token, { path: song }, { title: "hidden", visibility: "unlisted" })
      privateTrack = await waitForTrack(server.baseUrl, creator.access_token, p.body.id)
      unlistedTrack = await waitForTrack(server.baseUrl, creator.access_token, u.body.id)
    }, 60_000)

    it("hides private tracks from everyone but the owner, in the API and in HLS", async () => {
      expect((await http(server.baseUrl, "GET", `/api/v1/tracks/${privateTrack.id}`)).status).toBe(404)
      expect((await http(server.baseUrl, "GET", `/api/v1/tracks/${privateTrack.id}`, { token: listener.access_token })).status).toBe(404)
      expect((await http(server.baseUrl, "GET", `/api/v1/tracks/${privateTrack.id}/stream-url`, { token: listener.access_token })).status).toBe(404)
      const masterUrl = `${server.baseUrl}/hls/${privateTrack.id}/master.m3u8`
      expect((await fetch(masterUrl)).status).toBe(404)
      expect((await fetch(masterUrl, { headers: { authorization: `Bearer ${listener.access_token}` } })).status).toBe(404)
      // Guessing a segment URL of the owner's stream does not help.
      const owned = await crawlHls(masterUrl, { authorization: `Bearer ${creator.access_token}` })
      expect([...owned.statuses.values()].every((s) => s === 200)).toBe(true)
      for (const url of owned.statuses.keys()) {
        expect((await fetch(url)).status, url).toBe(404)
      }
      const cached = await fetch(masterUrl, { headers: { authorization: `Bearer ${creator.access_token}` } })
      expect(cached.headers.get("cache-control")).toBe("private, max-age=5")
      expect((await http(server.baseUrl, "GET", `/api/v1/tracks/${privateTrack.id}`, { token: "garbage" })).status).toBe(401)
    })

    it("signed links open the whole stream until they expire, and only for their track", async () => {
      const link = await http(server.baseUrl, "GET", `/api/v1/tracks/${privateTrack.id}/stream-url`, { token: creator.access_token })
      expect(link.status).toBe(200)
      expect(new Date(link.body.expires_at).getTime()).toBeGreaterThan(Date.now() + 3600_000)
      const url = new URL(link.body.url, server.baseUrl).toString()
      expect(url).toMatch(/\/hls\/.+\/master\.m3u8\?exp=\d+&sig=/)
      const crawl = await crawlHls(url)
      expect([...crawl.statuses.values()].every((s) => s === 200), JSON.stringify([...crawl.statuses])).toBe(true)
      for (const child of crawl.statuses.keys()) expect(child).toMatch(/[?&]sig=/)

      const tampered = url.replace(/sig=([^&])/, (_, c) => `sig=${c === "A" ? "B" : "A"}`)
      const bad = await fetch(tampered)
      expect(bad.status).toBe(403)
      expect(((await bad.json()) as any).error.code).toBe("LINK_EXPIRED")
      const expired = url.replace(/exp=\d+/, "exp=1000")
      expect((await fetch(expired)).status).toBe(403)
      // The signature names its track: it opens no other.
      const other = url.replace(privateTrack.id, unlistedTrack.id)
      expect((await fetch(other)).status).toBe(403)
    })

    it("unlisted tracks need a link but anyone with the id may get one", async () => {
      const masterUrl = `${server.baseUrl}/hls/${unlistedTrack.id}/master.m3u8`
      const plain = await fetch(masterUrl)
      expect(plain.status).toBe(403)
      expect((await http(server.baseUrl, "GET", `/api/v1/tracks/${unlistedTrack.id}`)).status).toBe(200)
      const link = await http(server.baseUrl, "GET", `/api/v1/tracks/${unlistedTrack.id}/stream-url`, { token: listener.access_token })
      expect(link.status).toBe(200)
      expect((await fetch(new URL(link.body.url, server.baseUrl))).status).toBe(200)
      expect((await http(server.baseUrl, "GET", `/api/v1/tracks/${unlistedTrack.id}/stream-url`)).status).toBe(401)
    })
  })

  describe("atomic publish", () => {
    it("a listener polling through a re-transcode never sees a playlist that names a missing file", async () => {
      const long = await generateAudio(work, { seconds: 60, format: "mp3", name: "long.mp3" })
      const up = await uploadTrack(server.baseUrl, creator.access_token, { path: long })
      const first = await waitForTrack(server.baseUrl, creator.access_token, up.body.id)
      const [published] = await query<any>(db, "select hls_prefix from tracks where id = $1", [first.id])

      const again = await http(server.baseUrl, "POST", `/api/v1/tracks/${first.id}/transcode`, { token: creator.access_token })
      expect(again.status).toBe(202)
      expect((await http(server.baseUrl, "POST", `/api/v1/tracks/${first.id}/transcode`, { token: creator.access_token })).status).toBe(409)
      expect((await http(server.baseUrl, "POST", `/api/v1/tracks/${first.id}/transcode`, { token: listener.access_token })).status).toBe(403)

      let crawls = 0
      let sawRunning = false
      for (;;) {
        const track = (await http(server.baseUrl, "GET", `/api/v1/tracks/${first.id}`, { token: creator.access_token })).body
        if (track.transcode.status === "running") sawRunning = true
        const crawl = await crawlHls(`${server.baseUrl}/hls/${first.id}/master.m3u8`)
        crawls++
        const missing = [...crawl.statuses].filter(([, s]) => s !== 200)
        expect(missing, "a published playlist named a missing file").toEqual([])
        if (track.transcode.status === "done") break
      }
      expect(sawRunning).toBe(true)
      expect(crawls).toBeGreaterThan(1)
      const [republished] = await query<any>(db, "select hls_prefix from tracks where id = $1", [first.id])
      expect(republished.hls_prefix).not.toBe(published.hls_prefix)
      // Players that loaded the old playlists keep their segments for the
      // retention period (3 s here); then the replaced prefix is deleted.
      expect((await storedObjects(published.hls_prefix)).length).toBeGreaterThan(10)
      const deadline = Date.now() + 15_000
      const retiredRows = async () => (await query<any>(db, "select count(*)::int as n from hls_retired_prefixes"))[0].n
      // The files go first, the row when their deletion commits.
      while (((await storedObjects(published.hls_prefix)).length > 0 || (await retiredRows()) > 0) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200))
      }
      expect((await storedObjects(published.hls_prefix))).toEqual([])
      expect(await retiredRows()).toBe(0)
      expect((await storedObjects(republished.hls_prefix)).length).toBeGreaterThan(10)
    }, 120_000)
  })

})
