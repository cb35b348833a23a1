/**
 * One audio element for the whole app, in the layout, so playback and the
 * queue survive navigation. hls.js plays the adaptive HLS ladder (Safari
 * plays it natively); the quality in use is shown and can be pinned.
 */
import type Hls from "hls.js"
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react"
import { Link } from "react-router"
import { call, currentSession, id } from "./api.js"
import type { TrackId } from "../../src/tracks/schema.js"
import { NextIcon, PauseIcon, PlayIcon, PreviousIcon } from "./icons.js"
import { formatTime } from "./ui.js"

export interface QueueItem {
  readonly id: string
  readonly title: string
  readonly artist: string | null
  /** A signed master URL when the listener holds one (a share link); otherwise one is asked for. */
  readonly src?: string
}

export interface Level {
  readonly index: number
  readonly kbps: number
}

interface PlayerState {
  readonly queue: ReadonlyArray<QueueItem>
  readonly index: number
  readonly current: QueueItem | null
  readonly playing: boolean
  readonly time: number
  readonly duration: number
  readonly levels: ReadonlyArray<Level>
  /** The level playing now, and whether hls.js picks it (auto) or the listener pinned it. */
  readonly level: number
  readonly auto: boolean
  readonly error: string | null
  readonly play: (items: ReadonlyArray<QueueItem>, start?: number, atSeconds?: number) => void
  readonly enqueue: (item: QueueItem) => void
  readonly removeAt: (index: number) => void
  readonly toggle: () => void
  readonly seek: (seconds: number) => void
  readonly next: () => void
  readonly previous: () => void
  readonly setLevel: (level: number | "auto") => void
}

const PlayerContext = createContext<PlayerState | null>(null)

export const usePlayer = () => {
  const player = useContext(PlayerContext)
  if (player === null) throw new Error("usePlayer outside PlayerProvider")
  return player
}

/** Where to load a track from: public tracks straight from hls_url, the rest through a signed link. */
const sourceFor = async (trackId: string): Promise<string> => {
  if (currentSession() !== null) return (await call((c) => c.tracks.streamUrl({ path: { id: id<TrackId>(trackId) } }))).url
  const track = await call((c) => c.tracks.byId({ path: { id: id<TrackId>(trackId) } }))
  if (track.hls_url === null) throw new Error("This track is not ready to play yet.")
  return track.hls_url
}

export const PlayerProvider = ({ children }: { children: ReactNode }) => {
  const audio = useRef<HTMLAudioElement | null>(null)
  const hls = useRef<Hls | null>(null)
  const pendingSeek = useRef<number | null>(null)
  const counted = useRef<string | null>(null)
  const loads = useRef(0)
  const [queue, setQueue] = useState<ReadonlyArray<QueueItem>>([])
  const [index, setIndex] = useState(0)
  const [playing, setPlaying] = useState(false)
  const [time, setTime] = useState(0)
  const [duration, setDuration] = useState(0)
  const [levels, setLevels] = useState<ReadonlyArray<Level>>([])
  const [level, setLevelState] = useState(-1)
  const [auto, setAuto] = useState(true)
  const [error, setError] = useState<string | null>(null)
  const current = queue[index] ?? null

  const load = useCallback(async (item: QueueItem) => {
    const element = audio.current
    if (element === null) return
    // A later load (the listener skipped on) makes this one stale after each await.
    const mine = ++loads.current
    setError(null)
    setLevels([])
    setLevelState(-1)
    setTime(pendingSeek.current ?? 0)
    hls.current?.destroy()
    hls.current = null
    let url: string
    try {
      url = item.src ?? (await sourceFor(item.id))
    } catch (e) {
      if (mine === loads.current) setError(e instanceof Error ? e.message : String(e))
      return
    }
    if (mine !== loads.current) return
    const startAt = () => {
      if (pendingSeek.current !== null) {
        element.currentTime = pendingSeek.current
        pendingSeek.current = null
      }
      element.play().catch((e: unknown) => {
        // The browser refused autoplay; the play button still works.
        if (!(e instanceof DOMException && e.name === "AbortError")) setPlaying(false)
      })
    }
    // hls.js is a third of the bundle: it loads with the first track played, not with the app.
    const { default: Hls } = await import("hls.js")
    if (mine !== loads.current) return
    if (Hls.isSupported()) {
      const h = new Hls({ enableWorker: true })
      hls.current = h
      h.on(Hls.Events.MANIFEST_PARSED, (_event, data) => {
        // The ladder's nominal rate is in each rendition's path (…/128k/playlist.m3u8); BANDWIDTH is a measured peak.
        setLevels(data.levels.map((l, i) => ({ index: i, kbps: Number(/\/(\d+)k\//.exec(l.uri)?.[1] ?? Math.round(l.bitrate / 1000)) })))
        startAt()
      })
      h.on(Hls.Events.LEVEL_SWITCHED, (_event, data) => setLevelState(data.level))
      h.on(Hls.Events.ERROR, (_event, data) => {
        if (data.fatal) setError(`Playback failed (${data.details}). Press play to retry.`)
      })
      h.loadSource(url)
      h.attachMedia(element)
    } else {
      element.src = url
      startAt()
    }
  }, [])

  useEffect(() => {
    if (current !== null) void load(current)
  }, [current, load])

  useEffect(() => () => hls.current?.destroy(), [])

  const play = useCallback((items: ReadonlyArray<QueueItem>, start = 0, atSeconds?: number) => {
    pendingSeek.current = atSeconds ?? null
    setQueue(items)
    setIndex(start)
  }, [])

  const seek = useCallback((seconds: number) => {
    const element = audio.current
    if (element === null) return
    element.currentTime = seconds
    setTime(seconds)
  }, [])

  const toggle = useCallback(() => {
    const element = audio.current
    if (element === null || current === null) return
    if (error !== null) return void load(current)
    if (element.paused) void element.play().catch(() => setPlaying(false))
    else element.pause()
  }, [current, error, load])

  const next = useCallback(() => setIndex((i) => Math.min(i + 1, queue.length - 1)), [queue.length])
  const previous = useCallback(() => {
    if ((audio.current?.currentTime ?? 0) > 3) seek(0)
    else setIndex((i) => Math.max(0, i - 1))
  }, [seek])

  const setLevel = useCallback((l: number | "auto") => {
    const h = hls.current
    if (h === null) return
    // currentLevel switches at once (flushing the buffer); -1 hands the choice back to the ABR.
    h.currentLevel = l === "auto" ? -1 : l
    setAuto(l === "auto")
  }, [])

  const enqueue = useCallback((item: QueueItem) => setQueue((q) => [...q, item]), [])
  const removeAt = useCallback(
    (i: number) => {
      setQueue((q) => q.filter((_, j) => j !== i))
      setIndex((cur) => (i < cur ? cur - 1 : cur))
    },
    []
  )

  const onTime = () => {
    const element = audio.current
    if (element === null) return
    setTime(element.currentTime)
    // A play counts once the listener has heard some of it.
    if (current !== null && counted.current !== current.id && element.currentTime >= 5 && currentSession() !== null) {
      counted.current = current.id
      const trackId = current.id
      void call((c) => c.tracks.play({ path: { id: id<TrackId>(trackId) }, payload: { played_ms: Math.round(element.currentTime * 1000), source: "web" } })).catch(() => {})
    }
  }

  const value = useMemo<PlayerState>(
    () => ({ queue, index, current, playing, time, duration, levels, level, auto, error, play, enqueue, removeAt, toggle, seek, next, previous, setLevel }),
    [queue, index, current, playing, time, duration, levels, level, auto, error, play, enqueue, removeAt, toggle, seek, next, previous, setLevel]
  )

  return (
    <PlayerContext.Provider value={value}>
      {children}
      <audio
        ref={audio}
        data-testid="audio"
        onPlay={() => setPlaying(true)}
        onPause={() => setPlaying(false)}
        onTimeUpdate={onTime}
        onDurationChange={() => setDuration(audio.current?.duration ?? 0)}
        onEnded={() => (index < queue.length - 1 ? setIndex(index + 1) : setPlaying(false))}
        hidden
      />
    </PlayerContext.Provider>
  )
}

export const PlayerBar = () => {
  const p = usePlayer()
  const [showQueue, setShowQueue] = useState(false)
  if (p.current === null) return null
  const kbps = p.levels.find((l) => l.index === p.level)?.kbps
  return (
    <section className="player-bar" aria-label="Player">
      <div className="player-main">
        <div className="player-buttons">
          <button type="button" onClick={p.previous} aria-label="Previous">
            <PreviousIcon />
          </button>
          <button type="button" className="play" onClick={p.toggle} aria-label={p.playing ? "Pause" : "Play"} data-testid="player-toggle">
            {p.playing ? <PauseIcon /> : <PlayIcon />}
          </button>
          <button type="button" onClick={p.next} aria-label="Next" disabled={p.index >= p.queue.length - 1}>
            <NextIcon />
          </button>
        </div>
        <div className="player-info">
          <Link to={`/tracks/${p.current.id}`} className="player-title">
            {p.current.title}
          </Link>
          {p.current.artist !== null && <span className="muted"> — {p.current.artist}</span>}
          <div className="player-progress">
            <span data-testid="player-time">{formatTime(p.time)}</span>
            <input
              type="range"
              min={0}
              max={Number.isFinite(p.duration) && p.duration > 0 ? p.duration : 0}
              step={0.1}
              value={p.time}
              onChange={(e) => p.seek(Number(e.target.value))}
              aria-label="Seek"
            />
            <span>{formatTime(p.duration)}</span>
          </div>
          {p.error !== null && (
            <p className="error small" role="alert">
              {p.error}
            </p>
          )}
        </div>
        <label className="quality">
          <span className="muted small">Quality {kbps !== undefined ? `· ${kbps} kbps${p.auto ? " (auto)" : ""}` : ""}</span>
          <select
            value={p.auto ? "auto" : String(p.level)}
            onChange={(e) => p.setLevel(e.target.value === "auto" ? "auto" : Number(e.target.value))}
            aria-label="Quality"
            data-testid="quality"
          >
            <option value="auto">Auto</option>
            {p.levels.map((l) => (
              <option key={l.index} value={l.index}>
                {l.kbps} kbps
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => setShowQueue((s) => !s)} aria-expanded={showQueue} aria-controls="queue">
          Queue ({p.queue.length})
        </button>
      </div>
      {showQueue && (
        <ol id="queue" className="queue">
          {p.queue.map((item, i) => (
            <li key={`${item.id}-${i}`} className={i === p.index ? "current" : ""}>
              <button type="button" className="link" onClick={() => p.play(p.queue, i)}>
                {item.title}
              </button>
              <button type="button" className="small" onClick={() => p.removeAt(i)} aria-label={`Remove ${item.title} from the queue`} disabled={i === p.index}>
                ✕
              </button>
            </li>
          ))}
        </ol>
      )}
    </section>
  )
}
