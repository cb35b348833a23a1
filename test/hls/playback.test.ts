import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import type { Browser, BrowserContext, Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { hlsJsPath, launchChromium, type PageProblems, watchPage } from "../support/browser.js"
import { freshDatabase } from "../support/database.js"
import { http, type RunningServer, startServer } from "../support/server.js"
import { uploadTrack, waitForTrack } from "../support/tracks.js"

/**
 * Proof of real playback: published tracks played by hls.js in headless
 * Chromium, through Media Source Extensions and an <audio> element, the way
 * the web client will play them. Public tracks by their plain master URL,
 * private ones through a signed link whose query the server carries on to
 * every child URI.
 */

const work = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-playback-"))
afterAll(() => NodeFs.rmSync(work, { recursive: true, force: true }))

const LADDER_KBPS = [64, 128, 256]
const RECOVERED_STALLS = new Set(["bufferStalledError", "bufferNudgeOnStall", "bufferSeekOverHole"])

/**
 * The player page. It is served under the Veza server's own origin by
 * intercepting this path in the browser (page.route): the server has no
 * static pages yet, and a page on another origin would make every HLS
 * request cross-origin, so the test would depend on the development CORS
 * policy (any origin when CORS_ALLOWED_ORIGINS is empty) rather than on the
 * stream. Same-origin is also how the web client will be served. Only these
 * two paths are intercepted; every /hls/ request goes to the real server.
 */
const PAGE_PATH = "/__playback-test/index.html"
const HLS_JS_PATH = "/__playback-test/hls.min.js"

const PLAYER_HTML = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>veza playback</title><link rel="icon" href="data:,"></head>
<body>
<audio id="audio"></audio>
<script src="${HLS_JS_PATH}"></script>
<script>
"use strict"
const audio = document.getElementById("audio")
const state = {
  hlsSupported: Hls.isSupported(),
  aacSupported: window.MediaSource ? MediaSource.isTypeSupported('audio/mp4; codecs="mp4a.40.2"') : false,
  levels: [],
  // Every LEVEL_SWITCHED, with the playback position when it was reported.
  switched: [],
  // Every fragment appended to the buffer: level, sequence number, URL.
  buffered: [],
  errors: [],
  fatal: [],
  playError: null
}
let hls = null
window.player = {
  state,
  audio,
  get hls() { return hls },
  failed: () => state.fatal.length > 0 || state.playError !== null,
  snapshot: () => ({
    ...state,
    buffered: state.buffered.slice(-8),
    currentTime: audio.currentTime,
    paused: audio.paused,
    muted: audio.muted,
    readyState: audio.readyState,
    mediaError: audio.error ? audio.error.code + " " + audio.error.message : null,
    currentLevel: hls ? hls.currentLevel : null,
    autoLevelEnabled: hls ? hls.autoLevelEnabled : null
  })
}
window.startPlayback = (url) => new Promise((resolve, reject) => {
  if (!state.hlsSupported) return reject(new Error("hls.js is not supported in this browser (no MSE?)"))
  hls = new Hls({ startLevel: 0 })
  hls.on(Hls.Events.ERROR, (_, data) => {
    const entry = { type: data.type, details: data.details, fatal: data.fatal, url: data.url || (data.frag && data.frag.url) || null,
      status: data.response ? data.response.code : null, reason: data.reason || (data.error && data.error.message) || null }
    state.errors.push(entry)
    if (data.fatal) {
      state.fatal.push(entry)
      reject(new Error("fatal hls.js error: " + JSON.stringify(entry)))
    }
  })
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    state.levels = hls.levels.map((l) => ({
      bitrate: l.bitrate,
      averageBandwidth: Number(l.attrs["AVERAGE-BANDWIDTH"]),
      codecs: l.attrs["CODECS"],
      audioCodec: l.audioCodec,
      uri: l.uri
    }))
    // Pin the lowest rung: with ABR on, the player would climb the ladder by
    // itself on loopback and the switch the test forces would prove nothing.
    hls.loadLevel = 0
    audio.play().then(resolve, (e) => {
      state.playError = String(e)
      reject(e)
    })
  })
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => state.switched.push({ level: data.level, at: audio.currentTime }))
  hls.on(Hls.Events.FRAG_BUFFERED, (_, data) => state.buffered.push({ level: data.frag.level, sn: data.frag.sn, url: data.frag.url }))
  hls.attachMedia(audio)
  hls.loadSource(url)
})
</script>
</body>
</html>`

let launching: Promise<Browser> | undefined
let browser: Browser
let server: RunningServer
let creator: Awaited<ReturnType<typeof registerUser>>
let publicTrack: any
let privateTrack: any

beforeAll(async () => {
  // Chromium starts while the server transcodes. Kept quiet if the setup
  // below fails first; awaited (and so reported) after it.
  launching = launchChromium()
  launching.catch(() => {})
  const db = await freshDatabase("playback")
  server = await startServer({ DATABASE_URL: db, HLS_SEGMENT_SECONDS: "2", JOB_POLL_INTERVAL_MS: "250" })
  creator = await registerUser(server.baseUrl, { account_type: "creator" })
  // Pink noise rather than a sine: AAC spends few bits on a pure tone (a sine
  // encoded at 256k comes out near 165k), so only a busy signal shows that
  // the ladder's rungs really are 64/128/256 kbps.
  const song = await generateAudio(work, { kind: "noise", seconds: 30, format: "mp3", name: "song.mp3" })
  const [pub, priv] = await Promise.all([
    uploadTrack(server.baseUrl, creator.access_token, { path: song, type: "audio/mpeg" }, { title: "Out loud" }),
    uploadTrack(server.baseUrl, creator.access_token, { path: song, type: "audio/mpeg" }, { title: "Just us", visibility: "private" })
  ])
  expect(pub.status, JSON.stringify(pub.body)).toBe(201)
  expect(priv.status, JSON.stringify(priv.body)).toBe(201)
  ;[publicTrack, privateTrack] = await Promise.all([
    waitForTrack(server.baseUrl, creator.access_token, pub.body.id),
    waitForTrack(server.baseUrl, creator.access_token, priv.body.id)
  ])
  browser = await launching
}, 90_000)

// Registered after database.ts's and server.ts's hooks, so it runs before them
// (hooks run in reverse): the browser goes first, whatever failed, even when
// the set-up failed while it was still starting.
afterAll(async () => {
  await (await launching?.catch(() => undefined))?.close()
})

interface Player {
  readonly page: Page
  readonly context: BrowserContext
  readonly problems: PageProblems
}

/** A fresh browser context with the player page open at the Veza origin. */
const openPlayer = async (): Promise<Player> => {
  const context = await browser.newContext()
  try {
    const page = await context.newPage()
    const problems = watchPage(page)
    await page.route(`${server.baseUrl}${PAGE_PATH}`, (route) =>
      route.fulfill({ status: 200, contentType: "text/html; charset=utf-8", body: PLAYER_HTML })
    )
    await page.route(`${server.baseUrl}${HLS_JS_PATH}`, (route) => route.fulfill({ status: 200, contentType: "text/javascript", path: hlsJsPath() }))
    await page.goto(`${server.baseUrl}${PAGE_PATH}`)
    return { page, context, problems }
  } catch (e) {
    await context.close()
    throw e
  }
}

const snapshot = (page: Page): Promise<any> => page.evaluate(() => (globalThis as any).player.snapshot())

/**
 * Waits until `predicate` holds in the page, or the player failed (a fatal
 * hls.js error, a refused play()); either way then demands no failure, and
 * reports the player's state when something went wrong.
 */
const waitInPage = async <A>(page: Page, what: string, predicate: (arg: A) => boolean, arg: A, timeout = 20_000) => {
  try {
    // The predicate runs in the page: passed as source, with its argument as JSON.
    await page.waitForFunction(`globalThis.player.failed() || (${predicate.toString()})(${JSON.stringify(arg)})`, undefined, {
      timeout,
      polling: 100
    })
  } catch (e) {
    throw new Error(`waiting for ${what}: ${String(e)}\nplayer: ${JSON.stringify(await snapshot(page).catch((x) => String(x)))}`)
  }
  const state = await snapshot(page)
  expect(state.fatal, `fatal hls.js errors while waiting for ${what}`).toEqual([])
  expect(state.playError, "audio.play() was refused").toBeNull()
  return state
}

/**
 * Plays `url` from the start at the lowest rung, checks the ladder hls.js
 * read from the master playlist, forces an immediate switch to `to` and
 * checks that the player reports it, buffers that rung and keeps playing.
 */
const playAndSwitch = async (url: string, to: number) => {
  const player = await openPlayer()
  const { page, problems } = player
  try {
    await page.evaluate((u) => (globalThis as any).startPlayback(u), url).catch(async (e) => {
      throw new Error(`playback did not start: ${String(e)}\nplayer: ${JSON.stringify(await snapshot(page))}\nproblems: ${JSON.stringify(problems)}`)
    })
    const started = await waitInPage(page, "2 s of playback", () => (globalThis as any).player.audio.currentTime > 2, null)
    expect(started.hlsSupported && started.aacSupported, "MSE with AAC-LC in fMP4").toBe(true)

    // The ladder, as hls.js understood the master playlist: lowest first,
    // BANDWIDTH the peak segment rate (at or somewhat above the nominal
    // rate), AVERAGE-BANDWIDTH close to it.
    expect(started.levels).toHaveLength(LADDER_KBPS.length)
    started.levels.forEach((level: any, i: number) => {
      const nominal = LADDER_KBPS[i]! * 1000
      expect(level.codecs).toBe("mp4a.40.2")
      expect(level.uri).toContain(`/${LADDER_KBPS[i]}k/playlist.m3u8`)
      expect(level.bitrate, `BANDWIDTH of rung ${i}`).toBeGreaterThanOrEqual(nominal * 0.9)
      expect(level.bitrate, `BANDWIDTH of rung ${i}`).toBeLessThanOrEqual(nominal * 1.5)
      expect(level.averageBandwidth, `AVERAGE-BANDWIDTH of rung ${i}`).toBeGreaterThanOrEqual(nominal * 0.85)
      expect(level.averageBandwidth, `AVERAGE-BANDWIDTH of rung ${i}`).toBeLessThanOrEqual(nominal * 1.2)
    })
    // Up to now, only the pinned lowest rung played.
    expect(started.currentLevel).toBe(0)
    expect(started.autoLevelEnabled).toBe(false)
    expect(started.switched.map((s: any) => s.level)).toEqual([0])
    expect(started.buffered.length).toBeGreaterThan(0)
    for (const frag of started.buffered) {
      expect(frag.level).toBe(0)
      expect(frag.url).toContain(`/${LADDER_KBPS[0]}k/seg_`)
    }
    expect(started.paused).toBe(false)

    const before = started.switched.length
    await page.evaluate((level) => {
      ;(globalThis as any).player.hls.currentLevel = level
    }, to)
    const switched = await waitInPage(
      page,
      `LEVEL_SWITCHED to ${to}`,
      ({ before, to }) => (globalThis as any).player.state.switched.slice(before).some((s: any) => s.level === to),
      { before, to }
    )
    const at = switched.switched.slice(before).find((s: any) => s.level === to).at as number
    const resumed = await waitInPage(
      page,
      "2 more seconds of playback after the switch",
      ({ at, url }) => {
        const player = (globalThis as any).player
        return player.audio.currentTime > at + 2 && !player.audio.paused && player.state.buffered.some((f: any) => f.url.includes(url))
      },
      { at, url: `/${LADDER_KBPS[to]}k/seg_` }
    )
    expect(resumed.currentLevel).toBe(to)
    expect(resumed.switched.slice(before).map((s: any) => s.level)).toEqual([to])
    expect(resumed.buffered.some((f: any) => f.level === to)).toBe(true)
    expect(resumed.currentTime).toBeGreaterThan(at + 2)
    expect(resumed.mediaError).toBeNull()

    // Nothing went wrong on the way: no fatal error, no other hls.js error
    // but the stall a busy machine may cause while the flushed buffer refills
    // (which hls.js recovers from), nothing on the console, no failed request.
    expect(resumed.errors.filter((e: any) => !RECOVERED_STALLS.has(e.details)), "hls.js errors").toEqual([])
    expect(problems.errors, "console errors").toEqual([])
    expect(problems.httpErrors, "HTTP errors").toEqual([])
    expect(problems.failedRequests, "failed requests").toEqual([])
    return { state: resumed, problems }
  } finally {
    await player.context.close()
  }
}

describe("hls.js in Chromium", () => {
  it("plays a public track, and keeps playing across a forced level switch", async () => {
    const url = new URL(publicTrack.hls_url, server.baseUrl).toString()
    expect(url).toBe(`${server.baseUrl}/hls/${publicTrack.id}/master.m3u8`)
    const { problems } = await playAndSwitch(url, 2)
    const hls = problems.responses.filter((r) => new URL(r.url).pathname.startsWith("/hls/"))
    for (const r of hls) expect(r.url, "the player asked only for this track").toContain(`/hls/${publicTrack.id}/`)
    // Segments of the lowest and the highest rung both came over the wire.
    expect(hls.some((r) => r.url.includes("/64k/seg_"))).toBe(true)
    expect(hls.some((r) => r.url.includes("/256k/seg_"))).toBe(true)
  }, 60_000)

  it("plays a private track through its signed link, the signature carried to every file", async () => {
    const link = await http(server.baseUrl, "GET", `/api/v1/tracks/${privateTrack.id}/stream-url`, { token: creator.access_token })
    expect(link.status, JSON.stringify(link.body)).toBe(200)
    const url = new URL(link.body.url, server.baseUrl).toString()
    expect(url).toMatch(/\/hls\/[^/]+\/master\.m3u8\?exp=\d+&sig=/)
    // Without the signature the browser gets nothing.
    expect((await fetch(new URL(`/hls/${privateTrack.id}/master.m3u8`, server.baseUrl))).status).toBe(404)

    const { state, problems } = await playAndSwitch(url, 1)
    for (const level of state.levels) expect(level.uri).toMatch(/[?&]sig=/)
    const hls = problems.responses.filter((r) => new URL(r.url).pathname.startsWith("/hls/"))
    expect(hls.length).toBeGreaterThan(5)
    for (const r of hls) {
      const u = new URL(r.url)
      expect(u.pathname, "the player asked only for this track").toContain(`/hls/${privateTrack.id}/`)
      expect(u.searchParams.get("sig"), r.url).toBe(new URL(url).searchParams.get("sig"))
      expect(u.searchParams.get("exp"), r.url).toBe(new URL(url).searchParams.get("exp"))
      expect(r.status, r.url).toBeLessThan(300)
    }
    expect(hls.some((r) => r.url.includes("/128k/seg_"))).toBe(true)
  }, 60_000)
})
