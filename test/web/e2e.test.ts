import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import type { Browser, BrowserContext, Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { uniqueName } from "../support/accounts.js"
import { generateAudio } from "../support/audio.js"
import { launchChromium, type PageProblems, watchPage } from "../support/browser.js"
import { freshDatabase, query } from "../support/database.js"
import { http, type RunningServer, startServer } from "../support/server.js"
import { uploadTrack, waitForTrack } from "../support/tracks.js"

/**
 * The web client end to end, in headless Chromium against the real server
 * (database, FFmpeg, storage, /ws): a creator signs up, uploads a generated
 * file and watches the transfer and the transcode, plays it; a listener in
 * another browser context finds it by search, comments at a timestamp, adds
 * it to a playlist and chats with the creator in a DM, live both ways, and
 * the creator, cut off the network meanwhile, gets what it missed on
 * reconnect. Screenshots of the main screens go to docs/screenshots/.
 */

const SHOTS = NodePath.resolve("docs/screenshots")
const work = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-web-e2e-"))
afterAll(() => NodeFs.rmSync(work, { recursive: true, force: true }))

let server: RunningServer
let database: string
let browser: Browser
let creatorContext: BrowserContext
let listenerContext: BrowserContext
let creator: Page
let listener: Page
let creatorProblems: PageProblems
let listenerProblems: PageProblems

const creatorName = uniqueName("maker")
const listenerName = uniqueName("fan")
const password = "correct horse battery"
// A word of letters only, unique to this run, so the search prefix is a plain word prefix.
const title = `Sunrise ${Array.from({ length: 6 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join("")}`
let trackId = ""
let moonId = ""

const shot = (page: Page, name: string) => page.screenshot({ path: NodePath.join(SHOTS, `${name}.png`) })

const tokenOf = (page: Page) => page.evaluate(() => JSON.parse((globalThis as any).localStorage.getItem("veza.session")).accessToken as string)

const signUp = async (page: Page, username: string, isCreator: boolean) => {
  await page.goto(`${server.baseUrl}/signup`)
  await page.getByLabel("Email").fill(`${username}@example.com`)
  await page.getByLabel("Username").fill(username)
  await page.getByLabel("Password").fill(password)
  if (isCreator) await page.getByLabel(/I make music/).check()
  await page.getByRole("button", { name: "Sign up" }).click()
  await page.getByRole("link", { name: `@${username}` }).waitFor()
  await page.locator('[data-testid="connection"][data-state="online"]').waitFor()
}

// Page functions reach the DOM through `globalThis as any`: this file compiles without the DOM library.
/** A playlist's stored order of titles, read over the API. */
const storedOrder = (token: string) => async (playlistUrl: string) => {
  const res = await http<{ items: Array<{ track: { title: string } }> }>(server.baseUrl, "GET", `/api/v1/playlists/${playlistUrl.split("/playlists/")[1]}/tracks`, { token })
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body.items.map((i) => i.track.title)
}

const audioTime = (page: Page) => page.evaluate(() => (globalThis as any).document.querySelector("audio").currentTime as number)

beforeAll(async () => {
  NodeFs.mkdirSync(SHOTS, { recursive: true })
  database = await freshDatabase("web_e2e")
  ;[server, browser] = await Promise.all([startServer({ DATABASE_URL: database, TRANSCODE_CONCURRENCY: "1" }), launchChromium()])
  creatorContext = await browser.newContext({ viewport: { width: 1280, height: 820 } })
  listenerContext = await browser.newContext({ viewport: { width: 1280, height: 820 } })
  creator = await creatorContext.newPage()
  listener = await listenerContext.newPage()
  creatorProblems = watchPage(creator)
  listenerProblems = watchPage(listener)
})

afterAll(async () => {
  await browser?.close()
})

describe("the web client, end to end", () => {
  it("a creator signs up, uploads with transfer progress, watches the transcode and plays the track", async () => {
    await creator.goto(`${server.baseUrl}/`)
    await creator.getByRole("heading", { name: /Music from the people/ }).waitFor()
    await shot(creator, "home")
    await signUp(creator, creatorName, true)

    // 20 s of WAV (~3.5 MB) through an upload throttled to 1 MB/s: the bar has time to move.
    const file = await generateAudio(work, { seconds: 20, format: "wav", name: "sunrise.wav" })
    await creator.getByRole("link", { name: "Upload" }).click()
    // What the server refuses is shown in its words.
    await creator.getByLabel(/Audio file/).setInputFiles(await generateAudio(work, { kind: "text", name: "notes.mp3" }))
    await creator.getByRole("button", { name: "Upload", exact: true }).click()
    await creator.getByTestId("upload-error").filter({ hasText: "not an audio file" }).waitFor()
    await shot(creator, "upload-error")
    await creator.getByLabel(/Audio file/).setInputFiles(file)
    await creator.getByLabel("Title").fill(title)
    const cdp = await creatorContext.newCDPSession(creator)
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 1024 * 1024 })
    // Samples what the page shows every frame: the transfer bar's values, then the transcode status.
    await creator.evaluate(() => {
      const page = globalThis as any
      const seen = { upload: [] as Array<number>, max: 0, statuses: [] as Array<string> }
      page.__seen = seen
      const sample = () => {
        const bar = page.document.querySelector('[data-testid="upload-progress"]') as { value: number; max: number } | null
        if (bar !== null && !seen.upload.includes(bar.value)) seen.upload.push(bar.value)
        if (bar !== null) seen.max = bar.max
        const status = page.document.querySelector('[data-testid="upload-result"] [role="status"]')?.textContent as string | undefined
        if (status && !seen.statuses.includes(status)) seen.statuses.push(status)
        page.requestAnimationFrame(sample)
      }
      sample()
    })
    await creator.getByRole("button", { name: "Upload", exact: true }).click()
    await creator.waitForFunction(() => (globalThis as any).__seen.upload.some((v: number) => v > 0))
    await shot(creator, "upload")
    await creator.getByTestId("upload-result").waitFor({ timeout: 30_000 })
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
    await creator.getByTestId("upload-ready").waitFor({ timeout: 60_000 })
    const seen = (await creator.evaluate(() => (globalThis as any).__seen)) as { upload: Array<number>; max: number; statuses: Array<string> }
    const partial = seen.upload.filter((v) => v > 0 && v < seen.max)
    expect(partial.length, `upload progress values ${JSON.stringify(seen)}`).toBeGreaterThanOrEqual(2)
    expect(seen.max).toBeGreaterThan(3_000_000)
    expect(seen.statuses.some((s) => s.startsWith("Processing")), JSON.stringify(seen.statuses)).toBe(true)

    await creator.getByRole("link", { name: "open the track" }).click()
    await creator.getByRole("heading", { name: title }).waitFor()
    trackId = creator.url().split("/tracks/")[1]!
    await creator.getByTestId("track-play").click()
    await expect.poll(() => audioTime(creator), { timeout: 20_000 }).toBeGreaterThan(1.5)
    // The quality menu lists the ladder once the manifest is in.
    const qualities = await creator.getByTestId("quality").locator("option").allTextContents()
    expect(qualities).toEqual(["Auto", "64 kbps", "128 kbps", "256 kbps"])
    await expect.poll(() => creator.locator(".quality .muted").textContent()).toMatch(/\d+ kbps \(auto\)/)
    await shot(creator, "track")
    // The player bar (and its queue) survives navigation; time keeps advancing.
    await creator.getByRole("link", { name: "Home", exact: true }).click()
    const before = await audioTime(creator)
    await expect.poll(() => audioTime(creator), { timeout: 10_000 }).toBeGreaterThan(before + 0.5)
    await creator.getByRole("button", { name: "Pause" }).click()
  })

  it("a listener finds it by type-ahead search, comments at a timestamp, and the creator's badge goes up live", async () => {
    await signUp(listener, listenerName, false)
    await listener.getByRole("combobox", { name: "Search" }).fill(title.split(" ")[1]!.slice(0, 4))
    const suggestion = listener.getByRole("option").filter({ hasText: title })
    await suggestion.waitFor({ timeout: 15_000 })
    await shot(listener, "search")
    await suggestion.getByRole("button").click()
    await listener.getByRole("heading", { name: title }).waitFor()

    // Seek by clicking the middle of the waveform: playback starts there.
    const wave = listener.locator('[data-testid="waveform"] canvas')
    const box = (await wave.boundingBox())!
    await wave.click({ position: { x: box.width / 2, y: box.height / 2 } })
    await expect.poll(() => audioTime(listener), { timeout: 20_000 }).toBeGreaterThan(10.5)
    await listener.getByTestId("player-toggle").click()
    const at = await audioTime(listener)

    await listener.getByLabel("Your comment").fill("That synth at the drop!")
    await listener.getByRole("button", { name: "Comment", exact: true }).click()
    await listener.getByTestId("comment").filter({ hasText: "That synth at the drop!" }).waitFor()
    await listener.getByTestId("comment-marker").waitFor()
    const comments = await http<{ items: Array<{ content: string; position_ms: number | null }> }>(server.baseUrl, "GET", `/api/v1/tracks/${trackId}/comments`)
    const position = comments.body.items[0]!.position_ms!
    expect(Math.abs(position - at * 1000)).toBeLessThan(1500)

    // The creator, still on its page, gets the notification over the socket.
    await expect.poll(() => creator.getByTestId("unread-badge").textContent(), { timeout: 10_000 }).toBe("1")
    // Clicking the marker seeks to the comment.
    await listener.getByTestId("comment-marker").click()
    await expect.poll(() => audioTime(listener), { timeout: 10_000 }).toBeGreaterThanOrEqual(position / 1000 - 0.5)
    await listener.getByTestId("player-toggle").click()
    await creator.getByRole("link", { name: /Notifications/ }).click()
    const commented = creator.getByTestId("notification").filter({ hasText: `${listenerName} commented` })
    await commented.waitFor()
    // Opening the page reads everything: the badge clears, on the server too, and what was new stays highlighted for this visit.
    await creator.getByTestId("unread-badge").waitFor({ state: "detached", timeout: 10_000 })
    expect(await commented.getAttribute("data-unread")).toBe("true")
    await expect
      .poll(async () => (await http<{ unread_count: number }>(server.baseUrl, "GET", "/api/v1/notifications?unread=true&limit=1", { token: await tokenOf(creator) })).body.unread_count)
      .toBe(0)
    await shot(creator, "notifications")
  })

  it("the listener adds it to a new playlist, reorders by drag and drop and by keyboard, and duplicates it", async () => {
    // A second, short track by the creator, uploaded through the API to keep the test short.
    const creatorToken = await tokenOf(creator)
    const moon = await uploadTrack(server.baseUrl, creatorToken, { path: await generateAudio(work, { seconds: 4, format: "mp3", frequency: 660 }) }, { title: "Moonrise" })
    expect(moon.status).toBe(201)
    await waitForTrack(server.baseUrl, creatorToken, moon.body.id)
    moonId = moon.body.id

    await listener.getByRole("link", { name: "Playlists" }).click()
    await listener.getByLabel("New playlist").fill("Road trip")
    await listener.getByRole("button", { name: "Create" }).click()
    await listener.getByRole("heading", { name: "Road trip" }).waitFor()
    await listener.goto(`${server.baseUrl}/tracks/${trackId}`)
    await listener.getByRole("button", { name: "+ Playlist" }).click()
    await listener.getByRole("dialog", { name: "Add to playlist" }).getByRole("button", { name: "Road trip" }).click()
    await listener.getByText("Added to “Road trip”.").waitFor()
    await listener.getByRole("link", { name: "Playlists" }).click()
    await listener.getByRole("link", { name: "Road trip" }).click()
    await listener.getByTestId("playlist-entries").getByRole("link", { name: title }).waitFor()
    const playlistUrl = listener.url()
    await listener.goto(`${server.baseUrl}/tracks/${moon.body.id}`)
    await listener.getByRole("button", { name: "+ Playlist" }).click()
    await listener.getByRole("dialog", { name: "Add to playlist" }).getByRole("button", { name: "Road trip" }).click()
    await listener.getByText("Added to “Road trip”.").waitFor()
    await listener.goto(playlistUrl)
    const entries = listener.getByTestId("playlist-entries").locator("li")
    const order = () => entries.locator("a").allTextContents()
    const stored = storedOrder(await tokenOf(listener))
    await expect.poll(order).toEqual([title, "Moonrise"])

    await entries.nth(1).dragTo(entries.nth(0))
    await expect.poll(order).toEqual(["Moonrise", title])
    await expect.poll(() => stored(playlistUrl)).toEqual(["Moonrise", title])
    await listener.getByRole("button", { name: "Move Moonrise down" }).focus()
    await listener.keyboard.press("Enter")
    await expect.poll(() => stored(playlistUrl)).toEqual([title, "Moonrise"])
    await shot(listener, "playlist")

    await listener.getByRole("button", { name: "Duplicate" }).click()
    await listener.waitForURL((url) => url.pathname.startsWith("/playlists/") && url.toString() !== playlistUrl)
    await expect.poll(order).toEqual([title, "Moonrise"])
    expect(await stored(listener.url())).toEqual([title, "Moonrise"])
  })

  it("listener and creator chat in a DM, live both ways; the creator gets what it missed while offline", async () => {
    await creator.getByRole("link", { name: "Chat" }).click()
    await creator.getByText("Choose a conversation.").waitFor()

    await listener.goto(`${server.baseUrl}/u/${creatorName}`)
    await listener.getByRole("button", { name: "Follow" }).click()
    await listener.getByRole("button", { name: "Following ✓" }).waitFor()
    // The creator read its notifications when it opened the page: the follow is the one unread.
    await expect.poll(() => creator.getByTestId("unread-badge").textContent(), { timeout: 10_000 }).toBe("1")
    await listener.getByRole("button", { name: "Message" }).click()
    await listener.waitForURL(/\/chat\/[0-9a-f-]{36}$/)
    await listener.getByTestId("composer").fill("Hi! Loved the track.")
    await listener.getByRole("button", { name: "Send" }).click()
    await listener.getByTestId("message").filter({ hasText: "Hi! Loved the track." }).waitFor()

    // The DM appears in the creator's list by itself; the message is there when it opens it.
    await creator.getByTestId("room-link").filter({ hasText: `@${listenerName}` }).click()
    await creator.getByTestId("message").filter({ hasText: "Hi! Loved the track." }).waitFor()
    await creator.getByTestId("composer").fill("Thank you!")
    await listener.getByTestId("typing").filter({ hasText: `${creatorName} is typing` }).waitFor()
    await creator.getByRole("button", { name: "Send" }).click()
    await listener.getByTestId("message").filter({ hasText: "Thank you!" }).waitFor()
    // The creator read the listener's message: the listener sees the receipt.
    await listener.getByText("Seen").waitFor()
    // And the other way, live: the creator has the room open when the listener writes.
    await listener.getByTestId("composer").fill("Can I use it in a video?")
    await listener.getByRole("button", { name: "Send" }).click()
    await creator.getByTestId("message").filter({ hasText: "Can I use it in a video?" }).waitFor({ timeout: 10_000 })

    await creatorContext.setOffline(true)
    await creator.locator('[data-testid="connection"][data-state="offline"]').waitFor({ timeout: 10_000 })
    for (const text of ["Are you there?", "Sent while you were away"]) {
      await listener.getByTestId("composer").fill(text)
      await listener.getByRole("button", { name: "Send" }).click()
      await listener.getByTestId("message").filter({ hasText: text }).waitFor()
    }
    expect(await creator.getByTestId("message").filter({ hasText: "Sent while you were away" }).count()).toBe(0)
    await creatorContext.setOffline(false)
    await creator.locator('[data-testid="connection"][data-state="online"]').waitFor({ timeout: 20_000 })
    await creator.getByTestId("message").filter({ hasText: "Sent while you were away" }).waitFor({ timeout: 10_000 })
    const texts = await creator.getByTestId("message").locator(".bubble").allTextContents()
    expect(texts).toEqual(["Hi! Loved the track.", "Thank you!", "Can I use it in a video?", "Are you there?", "Sent while you were away"])

    // Reactions, edits and deletes reach the other side live.
    const missed = creator.getByTestId("message").filter({ hasText: "Sent while you were away" })
    await missed.hover()
    await missed.getByRole("button", { name: "React 👍" }).click()
    await listener.getByTestId("message").filter({ hasText: "Sent while you were away" }).getByRole("button", { name: "👍 1" }).waitFor()
    const mine = creator.getByTestId("message").filter({ hasText: "Thank you!" })
    await mine.hover()
    await mine.getByRole("button", { name: "Edit" }).click()
    await creator.getByLabel("Edit message").fill("Thank you so much!")
    await creator.getByRole("button", { name: "Save" }).click()
    await listener.getByTestId("message").filter({ hasText: "Thank you so much!" }).filter({ hasText: "edited" }).waitFor()
    listener.once("dialog", (dialog) => void dialog.accept())
    const asked = listener.getByTestId("message").filter({ hasText: "Are you there?" })
    await asked.hover()
    await asked.getByRole("button", { name: "Delete" }).click()
    await expect.poll(() => creator.getByTestId("message").filter({ hasText: "Are you there?" }).count(), { timeout: 10_000 }).toBe(0)

    // After a reload, the reaction is still there (read back with the history), and so is the receipt (from the members' read markers).
    for (const page of [listener, creator]) {
      await page.reload()
      await page.locator('[data-testid="connection"][data-state="online"]').waitFor()
      await page.getByTestId("message").filter({ hasText: "Thank you so much!" }).waitFor()
    }
    const missedOn = (page: Page) => page.getByTestId("message").filter({ hasText: "Sent while you were away" })
    await missedOn(creator).getByRole("button", { name: "👍 1", pressed: true }).waitFor()
    await missedOn(listener).getByRole("button", { name: "👍 1", pressed: false }).waitFor()
    await missedOn(listener).getByText("Seen").waitFor()
    expect(await listener.getByTestId("message").filter({ hasText: "Are you there?" }).count()).toBe(0)
    await shot(creator, "chat")
  })

  it("the creator sells the track with a licence; the listener buys it and downloads it", async () => {
    await creator.getByRole("link", { name: "Market" }).click()
    await creator.getByRole("link", { name: "Sell" }).click()
    await creator.getByLabel("Title").fill(`${title} (beat)`)
    await creator.getByLabel(/Sold with one of your tracks/).selectOption({ label: title })
    await creator.getByLabel("premium price").fill("49.00")
    await creator.getByRole("button", { name: "Put on sale" }).click()
    await creator.getByRole("heading", { name: `${title} (beat)` }).waitFor()

    await listener.getByRole("link", { name: "Market" }).click()
    await listener.getByRole("link", { name: `${title} (beat)` }).click()
    await listener.getByRole("radio", { name: /premium/ }).check()
    await shot(listener, "product")
    await listener.getByRole("button", { name: "Add to cart" }).click()
    await listener.getByText("Total: €49.00").waitFor()
    await listener.getByRole("button", { name: "Checkout" }).click()
    await listener.getByRole("heading", { name: "Purchases" }).waitFor()
    await listener.getByText("paid").waitFor()
    await shot(listener, "purchases")
    const [download] = await Promise.all([listener.waitForEvent("download"), listener.getByRole("button", { name: "Download" }).click()])
    expect(download.suggestedFilename()).toBe("sunrise.wav")
  })

  it("the buyer reviews the product; its page shows the review and the average, to the seller too", async () => {
    await listener.getByRole("link", { name: `${title} (beat)` }).click()
    await listener.getByRole("heading", { name: `${title} (beat)` }).waitFor()
    await listener.getByTestId("rating").filter({ hasText: "no reviews yet" }).waitFor()
    await listener.getByRole("radio", { name: /4 of 5/ }).check()
    await listener.getByLabel("Your review (optional)").fill("Punchy drums, clean mix.")
    await listener.getByRole("button", { name: "Post review" }).click()
    await listener.getByTestId("review").filter({ hasText: "Punchy drums, clean mix." }).filter({ hasText: listenerName }).waitFor()
    await listener.getByTestId("rating").filter({ hasText: "★ 4.0 (1 review)" }).waitFor()
    // One review per buyer: the form is gone.
    expect(await listener.getByRole("button", { name: "Post review" }).count()).toBe(0)
    await shot(listener, "product-review")

    await creator.goto(listener.url())
    await creator.getByTestId("rating").filter({ hasText: "★ 4.0 (1 review)" }).waitFor()
    await creator.getByTestId("review").filter({ hasText: "Punchy drums, clean mix." }).waitFor()
    expect(await creator.getByRole("button", { name: "Post review" }).count()).toBe(0)

    // The seller reprices premium and withdraws basic; the buyer's order keeps what it paid.
    const offer = creator.getByRole("form", { name: "Product offer" })
    await offer.getByLabel("basic price").fill("")
    await offer.getByLabel("premium price").fill("59.00")
    await offer.getByRole("button", { name: "Save" }).click()
    await creator.getByRole("radio", { name: /premium — €59\.00/ }).waitFor()
    expect(await creator.getByRole("radio", { name: /basic/ }).count()).toBe(0)
    await listener.reload()
    await listener.getByRole("radio", { name: /premium — €59\.00/ }).waitFor()
    await listener.goto(`${server.baseUrl}/purchases`)
    await listener.getByText("€49.00").first().waitFor()
  })

  it("the creator invites the listener to edit a playlist; the listener finds it shared, adds and reorders a track; the creator sees it", async () => {
    await creator.getByRole("link", { name: "Playlists" }).click()
    await creator.getByLabel("New playlist").fill("Studio picks")
    await creator.getByLabel("Collaborative").check()
    await creator.getByRole("button", { name: "Create" }).click()
    await creator.getByRole("heading", { name: "Studio picks" }).waitFor()
    const picksUrl = creator.url()
    await creator.goto(`${server.baseUrl}/tracks/${trackId}`)
    await creator.getByRole("button", { name: "+ Playlist" }).click()
    await creator.getByRole("dialog", { name: "Add to playlist" }).getByRole("button", { name: "Studio picks" }).click()
    await creator.getByText("Added to “Studio picks”.").waitFor()
    await creator.goto(picksUrl)
    await creator.getByLabel("Invite by username").fill(listenerName)
    await creator.getByLabel("Role").selectOption("editor")
    await creator.getByRole("button", { name: "Invite" }).click()
    await creator.getByRole("link", { name: `@${listenerName}` }).waitFor()

    // The invitation reaches the listener as a notification that leads to the playlist.
    await listener.getByRole("link", { name: /Notifications/ }).click()
    await listener.getByTestId("notification").filter({ hasText: `${creatorName} invited you to the playlist “Studio picks”` }).getByRole("link").click()
    await listener.getByRole("heading", { name: "Studio picks" }).waitFor()
    await listener.getByText("you are an editor").waitFor()
    await listener.getByRole("link", { name: "Playlists" }).click()
    await listener.locator("h2:text-is('Shared with me') + ul").getByRole("link", { name: "Studio picks" }).waitFor()

    await listener.goto(`${server.baseUrl}/tracks/${moonId}`)
    await listener.getByRole("button", { name: "+ Playlist" }).click()
    await listener.getByRole("dialog", { name: "Add to playlist" }).getByRole("button", { name: "Studio picks" }).click()
    await listener.getByText("Added to “Studio picks”.").waitFor()
    await listener.goto(picksUrl)
    const order = (page: Page) => () => page.getByTestId("playlist-entries").locator("li a").allTextContents()
    await expect.poll(order(listener)).toEqual([title, "Moonrise"])
    await listener.getByRole("button", { name: "Move Moonrise up" }).click()
    const stored = storedOrder(await tokenOf(listener))
    await expect.poll(() => stored(picksUrl)).toEqual(["Moonrise", title])

    await creator.reload()
    await expect.poll(order(creator)).toEqual(["Moonrise", title])
    await creator.getByText(/^2 tracks/).waitFor()
  })

  it("the creator edits the track's details and deletes a track; the listener browses by its tag, pages, edits and deletes a comment", async () => {
    await creator.goto(`${server.baseUrl}/tracks/${trackId}`)
    await expect.poll(() => creator.getByTestId("track-stats").textContent(), { timeout: 10_000 }).toMatch(/\d+ plays · \d+ listeners · \d+ likes · 1 comments/)
    await creator.getByRole("button", { name: "Edit details" }).click()
    const details = creator.getByRole("form", { name: "Track details" })
    await details.getByLabel("Genre").fill("Ambient")
    await details.getByLabel("Tags (comma-separated)").fill("Dawn, field recording")
    await details.getByLabel("Description").fill("Recorded at first light.")
    await details.getByRole("button", { name: "Save" }).click()
    await creator.getByRole("link", { name: "#dawn" }).waitFor()
    await creator.getByText("Recorded at first light.").waitFor()
    const stored = await http<{ genre: string; tags: Array<string> }>(server.baseUrl, "GET", `/api/v1/tracks/${trackId}`)
    expect(stored.body).toMatchObject({ genre: "Ambient", tags: ["dawn", "field recording"] })

    // A track the creator no longer wants: deleted from its page, gone for everyone.
    const creatorToken = await tokenOf(creator)
    const draft = await uploadTrack(server.baseUrl, creatorToken, { path: await generateAudio(work, { seconds: 3, format: "mp3", frequency: 550 }) }, { title: "Outtake" })
    expect(draft.status).toBe(201)
    await creator.goto(`${server.baseUrl}/tracks/${draft.body.id}`)
    await creator.getByRole("button", { name: "Delete track…" }).click()
    await creator.getByRole("button", { name: "Delete for good" }).click()
    await creator.waitForURL(`${server.baseUrl}/u/${creatorName}`)
    expect((await http(server.baseUrl, "GET", `/api/v1/tracks/${draft.body.id}`, { token: creatorToken })).status).toBe(404)

    // The listener follows the tag from the track page to the catalogue narrowed to it.
    await listener.goto(`${server.baseUrl}/tracks/${trackId}`)
    await listener.getByRole("link", { name: "#dawn" }).click()
    await listener.getByRole("heading", { name: "Browse" }).waitFor()
    expect(new URL(listener.url()).searchParams.get("tags")).toBe("dawn")
    // The feed of followed artists is on the same page; the catalogue is the "Browse" region.
    const browse = listener.getByRole("region", { name: "Browse" })
    await browse.getByRole("link", { name: title }).waitFor()
    expect(await browse.locator("ul.tracks > li").count()).toBe(1)

    // A crate of 25 more tracks under one tag (rows written directly: 25 transcodes would only slow the test):
    // the catalogue shows 20, "Load more" brings the other 5, then there is nothing more to load.
    await query(
      database,
      `insert into tracks (creator_id, title, original_filename, format_name, file_size, storage_backend, storage_key, duration_ms, codec,
                          status, hls_backend, hls_prefix, tags)
       select u.id, 'Crate ' || i, 'c.mp3', 'mp3', 1, 'local', 'tracks/crate/' || i, 60000, 'mp3', 'ready', 'local', 'hls/crate/' || i, array['crate']
         from users u, generate_series(1, 25) i where u.username = $1`,
      [creatorName]
    )
    await listener.goto(`${server.baseUrl}/?tags=crate`)
    const crate = browse.locator("ul.tracks > li")
    await expect.poll(() => crate.count(), { timeout: 10_000 }).toBe(20)
    await listener.getByRole("button", { name: "Load more" }).click()
    await expect.poll(() => crate.count(), { timeout: 10_000 }).toBe(25)
    const titles = (await crate.getByRole("link").allTextContents()).filter((t) => t.startsWith("Crate "))
    expect(new Set(titles).size).toBe(25)
    expect(await listener.getByRole("button", { name: "Load more" }).count()).toBe(0)

    // The listener's own comment: edited, then deleted.
    await listener.goto(`${server.baseUrl}/tracks/${trackId}`)
    const mine = listener.getByTestId("comment").filter({ hasText: "That synth at the drop!" })
    await mine.getByRole("button", { name: "Edit" }).click()
    await listener.getByLabel("Edit your comment").fill("That synth at the drop, again!")
    await listener.getByRole("button", { name: "Save" }).click()
    const edited = listener.getByTestId("comment").filter({ hasText: "That synth at the drop, again!" })
    await edited.getByText("edited").waitFor()
    await edited.getByRole("button", { name: "Delete" }).click()
    await edited.waitFor({ state: "detached" })
    await listener.getByRole("heading", { name: "Comments (0)" }).waitFor()
    expect((await http<{ items: Array<unknown> }>(server.baseUrl, "GET", `/api/v1/tracks/${trackId}/comments`)).body.items).toEqual([])

    // The profile knows the listener follows the creator without reading the listener's whole following list.
    await listener.goto(`${server.baseUrl}/u/${creatorName}`)
    await listener.getByRole("button", { name: "Following ✓" }).waitFor()
  })

  it("an expired access token is refreshed silently; the phone-width layout; no console errors", async () => {
    await listener.evaluate(() => {
      const storage = (globalThis as any).localStorage
      const session = JSON.parse(storage.getItem("veza.session"))
      storage.setItem("veza.session", JSON.stringify({ ...session, accessToken: "expired.access.token" }))
    })
    await listener.setViewportSize({ width: 390, height: 844 })
    const errorsBefore = listenerProblems.httpErrors.length
    await listener.goto(`${server.baseUrl}/tracks/${trackId}`)
    await listener.getByRole("heading", { name: title }).waitFor()
    await listener.getByRole("button", { name: "Menu" }).click()
    await listener.locator('[data-testid="connection"][data-state="online"]').waitFor()
    await shot(listener, "track-phone")
    // One refresh before the first call; no request went out with the dead token.
    const refreshes = listenerProblems.responses.filter((r) => r.url.endsWith("/api/v1/auth/refresh"))
    expect(refreshes.map((r) => r.status)).toEqual([200])
    expect(listenerProblems.httpErrors.slice(errorsBefore)).toEqual([])

    // Signing out everywhere ends the creator's session.
    await creator.getByRole("link", { name: "Settings" }).click()
    await creator.getByRole("button", { name: "Sign out everywhere" }).click()
    await creator.getByRole("heading", { name: "Sign in" }).waitFor()
    // The refused upload is the one failed request, which Chromium also logs; nothing else went wrong.
    expect(creatorProblems.errors).toEqual([expect.stringContaining("the server responded with a status of 415")])
    expect(listenerProblems.errors).toEqual([])
    expect(creatorProblems.httpErrors).toEqual([expect.stringMatching(/^415 .*\/api\/v1\/tracks$/)])
    expect(listenerProblems.httpErrors).toEqual([])
  })
})
