import { PlayIcon } from "./icons.js"
import { Link } from "react-router"
import { usePlayer } from "./player.js"
import { formatTime } from "./ui.js"

/** Tags as typed, comma-separated: each trimmed, empty ones dropped (the server lower-cases and deduplicates). */
export const splitTags = (text: string) =>
  text
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "")

export interface TrackRow {
  readonly id: string
  readonly title: string
  readonly artist: string | null
  readonly duration_ms: number
  readonly creator_username?: string
  readonly status?: string
}

/** A list of tracks; play starts the queue at that row, + appends to the queue. */
export const TrackList = ({ tracks, empty }: { tracks: ReadonlyArray<TrackRow>; empty: string }) => {
  const player = usePlayer()
  if (tracks.length === 0) return <p className="muted">{empty}</p>
  const queue = tracks.filter((t) => t.status === undefined || t.status === "ready").map((t) => ({ id: t.id, title: t.title, artist: t.artist ?? t.creator_username ?? null }))
  return (
    <ul className="tracks">
      {tracks.map((t) => {
        const ready = t.status === undefined || t.status === "ready"
        return (
          <li key={t.id}>
            <button
              type="button"
              className="round"
              aria-label={`Play ${t.title}`}
              disabled={!ready}
              onClick={() => player.play(queue, queue.findIndex((q) => q.id === t.id))}
            >
              <PlayIcon />
            </button>
            <div className="grow">
              <Link to={`/tracks/${t.id}`}>{t.title}</Link>
              <div className="muted small">
                {t.creator_username !== undefined && (
                  <>
                    <Link to={`/u/${t.creator_username}`}>{t.creator_username}</Link> ·{" "}
                  </>
                )}
                {t.artist !== null && t.artist !== t.creator_username && <>{t.artist} · </>}
                {ready ? formatTime(t.duration_ms / 1000) : t.status}
              </div>
            </div>
            <button
              type="button"
              className="small"
              aria-label={`Add ${t.title} to the queue`}
              disabled={!ready}
              onClick={() => player.enqueue({ id: t.id, title: t.title, artist: t.artist ?? t.creator_username ?? null })}
            >
              + Queue
            </button>
          </li>
        )
      })}
    </ul>
  )
}
