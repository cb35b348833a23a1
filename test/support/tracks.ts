import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { expect } from "vitest"
import { http } from "./server.js"

/** POSTs a multipart upload the way a browser form would. */
export const uploadTrack = async (
  baseUrl: string,
  token: string | undefined,
  file: { path: string; name?: string; type?: string } | undefined,
  fields: Record<string, string> = {}
) => {
  const form = new FormData()
  for (const [k, v] of Object.entries(fields)) form.append(k, v)
  if (file !== undefined) {
    const blob = await NodeFs.openAsBlob(file.path, { type: file.type ?? "application/octet-stream" })
    form.append("file", blob, file.name ?? NodePath.basename(file.path))
  }
  const response = await fetch(`${baseUrl}/api/v1/tracks`, {
    method: "POST",
    body: form,
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` }
  })
  const text = await response.text()
  return { status: response.status, headers: response.headers, body: text.length > 0 ? JSON.parse(text) : undefined }
}

/** Polls the track until `done(track)` holds, failing after `timeoutMs`. */
export const waitForTrack = async (
  baseUrl: string,
  token: string,
  id: string,
  done: (track: any) => boolean = (t) => t.status === "ready",
  timeoutMs = 60_000
) => {
  const deadline = Date.now() + timeoutMs
  let last: any
  while (Date.now() < deadline) {
    const res = await http(baseUrl, "GET", `/api/v1/tracks/${id}`, { token })
    expect(res.status).toBe(200)
    last = res.body
    if (done(last)) return last
    if (last.status === "failed" && !done(last)) throw new Error(`track failed: ${JSON.stringify(last.transcode)}`)
    await new Promise((r) => setTimeout(r, 150))
  }
  throw new Error(`track ${id} not done in ${timeoutMs} ms: ${JSON.stringify(last)}`)
}

/** Every URI line of a playlist (EXT-X-MAP URIs included). */
export const playlistUris = (text: string) => {
  const uris: Array<string> = []
  for (const line of text.split("\n")) {
    const trimmed = line.trim()
    if (trimmed.length === 0) continue
    if (!trimmed.startsWith("#")) uris.push(trimmed)
    const map = /URI="([^"]+)"/.exec(trimmed)
    if (map !== null) uris.push(map[1]!)
  }
  return uris
}

/**
 * Fetches a master playlist and everything it names, all the way down to the
 * segments; resolves with the status of each URL so a test can demand 200s.
 */
export const crawlHls = async (masterUrl: string, headers: Record<string, string> = {}) => {
  const statuses = new Map<string, number>()
  const master = await fetch(masterUrl, { headers })
  statuses.set(masterUrl, master.status)
  if (master.status !== 200) return { master: undefined, statuses }
  const masterText = await master.text()
  for (const child of playlistUris(masterText)) {
    const childUrl = new URL(child, masterUrl).toString()
    const playlist = await fetch(childUrl, { headers })
    statuses.set(childUrl, playlist.status)
    if (playlist.status !== 200) continue
    for (const file of playlistUris(await playlist.text())) {
      const fileUrl = new URL(file, childUrl).toString()
      const res = await fetch(fileUrl, { headers })
      await res.arrayBuffer()
      statuses.set(fileUrl, res.status)
    }
  }
  return { master: masterText, statuses }
}
