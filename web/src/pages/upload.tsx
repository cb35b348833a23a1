import { type FormEvent, useEffect, useRef, useState } from "react"
import { Link } from "react-router"
import { call, toApiError, uploadTrack } from "../api.js"
import { useApp } from "../session.js"
import { useTitle } from "../ui.js"
import { RequireSignIn } from "./auth.js"
import { TranscodeProgress } from "./track.js"
import type { Track } from "../../../src/tracks/schema.js"

const CREATOR_ROLES = new Set(["creator", "artist", "producer", "label", "admin"])

const formatBytes = (n: number) => (n < 1024 * 1024 ? `${(n / 1024).toFixed(0)} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`)

type Phase =
  | { readonly name: "idle" }
  | { readonly name: "sending"; readonly sent: number; readonly total: number }
  | { readonly name: "processing"; readonly track: Track }
  | { readonly name: "error"; readonly message: string }

const Upload = () => {
  useTitle("Upload")
  const { session } = useApp()
  const [file, setFile] = useState<File | null>(null)
  const [title, setTitle] = useState("")
  const [visibility, setVisibility] = useState<"public" | "unlisted" | "private">("public")
  const [phase, setPhase] = useState<Phase>({ name: "idle" })
  const abort = useRef<AbortController | null>(null)

  // After the transfer, the track is polled until the transcode is done.
  const trackId = phase.name === "processing" ? phase.track.id : null
  const done = phase.name === "processing" && phase.track.status !== "processing"
  useEffect(() => {
    if (trackId === null || done) return
    const timer = setInterval(() => {
      call((c) => c.tracks.byId({ path: { id: trackId } })).then(
        (track) => setPhase({ name: "processing", track }),
        () => {}
      )
    }, 1000)
    return () => clearInterval(timer)
  }, [trackId, done])

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    if (file === null) return
    const form = new FormData()
    if (title.trim() !== "") form.append("title", title.trim())
    form.append("visibility", visibility)
    // The file goes last: the server reads the fields before streaming the file to storage.
    form.append("file", file)
    abort.current = new AbortController()
    setPhase({ name: "sending", sent: 0, total: file.size })
    try {
      const track = await uploadTrack(form, (sent, total) => setPhase({ name: "sending", sent, total: total || file.size }), abort.current.signal)
      setPhase({ name: "processing", track })
    } catch (err) {
      setPhase({ name: "error", message: toApiError(err).message })
    }
  }

  if (session !== null && !CREATOR_ROLES.has(session.role)) {
    return (
      <section className="narrow">
        <h1>Upload</h1>
        <p>Uploading needs a creator account; this one is a listener account. Create a creator account to publish music.</p>
      </section>
    )
  }

  const sending = phase.name === "sending"
  return (
    <section className="narrow">
      <h1>Upload a track</h1>
      <form onSubmit={submit} className="stack">
        <label>
          Audio file (MP3, WAV, FLAC, AAC, OGG…)
          <input type="file" name="file" accept="audio/*,.mp3,.wav,.flac,.m4a,.aac,.ogg" required disabled={sending} onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
        </label>
        <label>
          Title
          <input name="title" maxLength={255} placeholder={file?.name.replace(/\.[^.]+$/, "") ?? "From the file name"} value={title} disabled={sending} onChange={(e) => setTitle(e.target.value)} />
        </label>
        <label>
          Visibility
          <select value={visibility} disabled={sending} onChange={(e) => setVisibility(e.target.value as typeof visibility)}>
            <option value="public">Public — everyone</option>
            <option value="unlisted">Unlisted — people with the link</option>
            <option value="private">Private — only me</option>
          </select>
        </label>
        <div className="row">
          <button type="submit" className="primary" disabled={file === null || sending}>
            Upload
          </button>
          {sending && (
            <button type="button" onClick={() => abort.current?.abort()}>
              Cancel
            </button>
          )}
        </div>
      </form>
      {phase.name === "sending" && (
        <div className="stack" role="status" aria-live="polite">
          <span>
            Uploading: {formatBytes(phase.sent)} of {formatBytes(phase.total)} ({phase.total > 0 ? Math.floor((phase.sent / phase.total) * 100) : 0}%)
          </span>
          <progress max={phase.total} value={phase.sent} aria-label="Upload progress" data-testid="upload-progress" />
        </div>
      )}
      {phase.name === "error" && (
        <div className="error-box" role="alert" data-testid="upload-error">
          <p>{phase.message}</p>
          <p className="small">Fix the file or the fields and upload again.</p>
        </div>
      )}
      {phase.name === "processing" && (
        <div className="stack" data-testid="upload-result">
          <p>
            Uploaded <strong>{phase.track.title}</strong>.
          </p>
          <TranscodeProgress track={phase.track} />
          {phase.track.status === "ready" && (
            <p role="status" data-testid="upload-ready">
              Ready to play: <Link to={`/tracks/${phase.track.id}`}>open the track</Link>.
            </p>
          )}
        </div>
      )}
    </section>
  )
}

export const UploadPage = () => (
  <RequireSignIn what="upload tracks">
    <Upload />
  </RequireSignIn>
)
