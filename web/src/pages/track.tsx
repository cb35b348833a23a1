import { type FormEvent, useEffect, useRef, useState } from "react"
import { Link, useNavigate, useParams } from "react-router"
import { call, currentSession, id } from "../api.js"
import { PauseIcon, PlayIcon } from "../icons.js"
import { usePlayer } from "../player.js"
import { splitTags } from "../tracks.js"
import { useApp } from "../session.js"
import { ConfirmDelete, ErrorBox, formatDate, formatTime, Loading, MoreButton, Show, useAction, useAsync, usePaged, useTitle } from "../ui.js"
import type { Comment, CommentPage, Track, TrackId } from "../../../src/tracks/schema.js"
import type { PlaylistId } from "../../../src/playlists/schema.js"
import type { UserId } from "../../../src/users/schema.js"

/** Peaks drawn as mirrored bars; the part already heard in the accent colour. */
const drawWaveform = (canvas: HTMLCanvasElement, peaks: ReadonlyArray<number>, progress: number) => {
  const ratio = window.devicePixelRatio || 1
  const width = canvas.clientWidth
  const height = canvas.clientHeight
  canvas.width = Math.round(width * ratio)
  canvas.height = Math.round(height * ratio)
  const ctx = canvas.getContext("2d")
  if (ctx === null || width === 0) return
  ctx.scale(ratio, ratio)
  ctx.clearRect(0, 0, width, height)
  const bars = Math.max(1, Math.floor(width / 3))
  const styles = getComputedStyle(canvas)
  const played = styles.getPropertyValue("--accent").trim() || "#ff5a36"
  const rest = styles.getPropertyValue("--wave").trim() || "#5b6270"
  for (let i = 0; i < bars; i++) {
    // Each bar takes the loudest peak of the slices it covers.
    const from = Math.floor((i / bars) * peaks.length)
    const to = Math.max(from + 1, Math.floor(((i + 1) / bars) * peaks.length))
    let peak = 0
    for (let j = from; j < to && j < peaks.length; j++) peak = Math.max(peak, peaks[j] ?? 0)
    const h = Math.max(1, peak * (height - 4))
    ctx.fillStyle = i / bars < progress ? played : rest
    ctx.fillRect(i * 3, (height - h) / 2, 2, h)
  }
}

const Waveform = ({
  track,
  comments,
  time,
  isCurrent,
  onSeek
}: {
  track: Track
  comments: ReadonlyArray<Comment>
  time: number
  isCurrent: boolean
  onSeek: (seconds: number) => void
}) => {
  const canvas = useRef<HTMLCanvasElement | null>(null)
  const durationS = track.duration_ms / 1000
  const progress = isCurrent && durationS > 0 ? time / durationS : 0
  const peaks = track.waveform ?? []

  useEffect(() => {
    const c = canvas.current
    if (c === null) return
    drawWaveform(c, peaks, progress)
    const observer = new ResizeObserver(() => drawWaveform(c, peaks, progress))
    observer.observe(c)
    return () => observer.disconnect()
  }, [peaks, progress])

  return (
    <div className="waveform" data-testid="waveform">
      <canvas
        ref={canvas}
        role="slider"
        tabIndex={0}
        aria-label="Position in the track"
        aria-valuemin={0}
        aria-valuemax={Math.round(durationS)}
        aria-valuenow={Math.round(isCurrent ? time : 0)}
        aria-valuetext={formatTime(isCurrent ? time : 0)}
        onClick={(e) => {
          const rect = e.currentTarget.getBoundingClientRect()
          onSeek(((e.clientX - rect.left) / rect.width) * durationS)
        }}
        onKeyDown={(e) => {
          const step = e.key === "ArrowRight" ? 5 : e.key === "ArrowLeft" ? -5 : 0
          if (step === 0) return
          e.preventDefault()
          onSeek(Math.min(durationS, Math.max(0, (isCurrent ? time : 0) + step)))
        }}
      />
      {comments
        .filter((c) => c.position_ms !== null && track.duration_ms > 0)
        .map((c) => (
          <button
            key={c.id}
            type="button"
            className="marker"
            style={{ left: `${(c.position_ms! / track.duration_ms) * 100}%` }}
            title={`${c.username} at ${formatTime(c.position_ms! / 1000)}: ${c.content}`}
            aria-label={`Comment by ${c.username} at ${formatTime(c.position_ms! / 1000)}: ${c.content}. Play from here.`}
            data-testid="comment-marker"
            onClick={() => onSeek(c.position_ms! / 1000)}
          />
        ))}
      {peaks.length === 0 && <p className="muted small waveform-empty">No waveform yet.</p>}
    </div>
  )
}

/** While a track is transcoding its owner sees the job's progress; everyone else sees "processing". */
export const TranscodeProgress = ({ track }: { track: Track }) => {
  const t = track.transcode
  if (track.status === "failed")
    return (
      <p className="error" role="alert">
        Transcoding failed{t?.last_error ? `: ${t.last_error}` : ""}.
      </p>
    )
  if (track.status !== "processing") return null
  const pct = t?.progress ?? 0
  return (
    <div className="stack" role="status" aria-live="polite">
      <span>
        Processing: {t?.status === "queued" ? "waiting for a worker" : `${pct}%`}
        {t !== null && t !== undefined && t.attempts > 1 ? ` (attempt ${t.attempts} of ${t.max_attempts})` : ""}
      </span>
      <progress max={100} value={pct} aria-label="Transcode progress" data-testid="transcode-progress" />
    </div>
  )
}

const AddToPlaylist = ({ trackId }: { trackId: string }) => {
  const { session } = useApp()
  const [open, setOpen] = useState(false)
  const [done, setDone] = useState<string | null>(null)
  const action = useAction()
  const mine = useAsync(
    () => (open && session !== null ? call((c) => c.playlists.byOwner({ path: { id: id<UserId>(session.userId) }, urlParams: { limit: 100 } })) : Promise.resolve(null)),
    [open, session?.userId]
  )
  const shared = useAsync(() => (open && session !== null ? call((c) => c.playlists.shared({ urlParams: { limit: 100 } })) : Promise.resolve(null)), [open])
  if (session === null) return null
  // Playlists shared for viewing only would refuse the track.
  const editable = shared.state.status === "ok" ? (shared.state.value?.items ?? []).filter((p) => p.my_role === "editor") : []
  const targets = [...(mine.state.status === "ok" ? (mine.state.value?.items ?? []) : []), ...editable]
  const add = async (playlistId: string, title: string) => {
    setDone(null)
    const ok = await action.run(() => call((c) => c.playlists.addTrack({ path: { id: id<PlaylistId>(playlistId) }, payload: { track_id: id<TrackId>(trackId) } })).then(() => true))
    if (ok) setDone(`Added to “${title}”.`)
  }
  return (
    <div className="popover-anchor">
      <button type="button" aria-expanded={open} onClick={() => setOpen((o) => !o)}>
        + Playlist
      </button>
      {open && (
        <div className="popover" role="dialog" aria-label="Add to playlist">
          {mine.state.status === "loading" ? (
            <Loading />
          ) : mine.state.status === "error" ? (
            <ErrorBox error={mine.state.error} retry={mine.reload} />
          ) : (
            <ul className="plain">
              {targets.map((p) => (
                <li key={p.id}>
                  <button type="button" className="link" disabled={action.busy} onClick={() => add(p.id, p.title)}>
                    {p.title}
                  </button>
                </li>
              ))}
              {targets.length === 0 && (
                <li className="muted small">
                  No playlists yet: <Link to="/playlists">create one</Link>.
                </li>
              )}
            </ul>
          )}
          {action.error !== null && <p className="error small" role="alert">{action.error}</p>}
          {done !== null && <p role="status" className="small">{done}</p>}
        </div>
      )}
    </div>
  )
}

const Share = ({ track }: { track: Track }) => {
  const [text, setText] = useState<string | null>(null)
  const action = useAction()
  const isOwner = currentSession()?.userId === track.creator_id
  const share = async () => {
    let url = `${location.origin}/tracks/${track.id}`
    if (track.visibility !== "public" && isOwner) {
      const link = await action.run(() => call((c) => c.tracks.share({ path: { id: track.id }, payload: {} })))
      if (link === undefined) return
      url = `${location.origin}/s/${link.token}`
    }
    setText(url)
    await navigator.clipboard?.writeText(url).catch(() => {})
  }
  return (
    <div className="popover-anchor">
      <button type="button" onClick={share} disabled={action.busy}>
        Share
      </button>
      {text !== null && (
        <div className="popover" role="dialog" aria-label="Share link">
          <label>
            Link (copied)
            <input readOnly value={text} onFocus={(e) => e.target.select()} data-testid="share-url" />
          </label>
        </div>
      )}
      {action.error !== null && <p className="error small" role="alert">{action.error}</p>}
    </div>
  )
}

type CommentList = ReturnType<typeof usePaged<Comment, typeof CommentPage.Type>>

/** One comment; its author may edit or delete it, the track's creator and admins may delete it. */
const CommentItem = ({ track, comment: c, comments, onSeek, onCountChange }: { track: Track; comment: Comment; comments: CommentList; onSeek: (seconds: number) => void; onCountChange: (d: number) => void }) => {
  const me = currentSession()
  const [editing, setEditing] = useState<string | null>(null)
  const action = useAction()
  const mine = me !== null && me.userId === c.user_id
  const mayDelete = mine || manages(track)
  const replace = (next: Comment | null) =>
    comments.set((p) => ({ ...p, items: next === null ? p.items.filter((x) => x.id !== c.id) : p.items.map((x) => (x.id === c.id ? next : x)) }))
  const save = async (e: FormEvent) => {
    e.preventDefault()
    if (editing === null) return
    const edited = await action.run(() => call((cl) => cl.tracks.editComment({ path: { id: track.id, comment_id: c.id }, payload: { content: editing } })))
    if (edited === undefined) return
    replace(edited)
    setEditing(null)
  }
  const remove = async () => {
    const done = await action.run(() => call((cl) => cl.tracks.deleteComment({ path: { id: track.id, comment_id: c.id } })).then(() => true))
    if (done !== true) return
    replace(null)
    onCountChange(-1)
  }
  return (
    <li data-testid="comment" className={c.parent_id !== null ? "reply" : undefined}>
      <div className="muted small">
        <Link to={`/u/${c.username}`}>{c.username}</Link>
        {c.position_ms !== null && (
          <>
            {" "}
            at{" "}
            <button type="button" className="link" onClick={() => onSeek(c.position_ms! / 1000)}>
              {formatTime(c.position_ms / 1000)}
            </button>
          </>
        )}{" "}
        · {formatDate(c.created_at)}
        {c.edited_at !== null && " · edited"}
      </div>
      {editing === null ? (
        <p>{c.content}</p>
      ) : (
        <form className="stack" onSubmit={save}>
          <label>
            Edit your comment
            <textarea value={editing} maxLength={2000} rows={2} required onChange={(e) => setEditing(e.target.value)} />
          </label>
          <div className="row">
            <button type="submit" className="primary" disabled={action.busy}>
              Save
            </button>
            <button type="button" onClick={() => setEditing(null)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      {editing === null && (mine || mayDelete) && (
        <div className="row small">
          {mine && (
            <button type="button" className="link" onClick={() => setEditing(c.content)}>
              Edit
            </button>
          )}
          {mayDelete && (
            <button type="button" className="link" onClick={remove} disabled={action.busy}>
              Delete
            </button>
          )}
        </div>
      )}
      {action.error !== null && <p className="error small" role="alert">{action.error}</p>}
    </li>
  )
}

const Comments = ({
  track,
  comments,
  onCountChange,
  positionMs,
  onSeek
}: {
  track: Track
  comments: CommentList
  onCountChange: (d: number) => void
  positionMs: number | null
  onSeek: (seconds: number) => void
}) => {
  const { session } = useApp()
  const [content, setContent] = useState("")
  const [atPlayhead, setAtPlayhead] = useState(true)
  const action = useAction()
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const position = atPlayhead ? (positionMs ?? 0) : null
    const comment = await action.run(() => call((c) => c.tracks.addComment({ path: { id: track.id }, payload: { content, position_ms: position } })))
    if (comment === undefined) return
    setContent("")
    comments.set((p) => ({ ...p, items: [comment, ...p.items] }))
    onCountChange(1)
  }
  return (
    <section aria-labelledby="comments-title">
      <h2 id="comments-title">Comments ({track.comment_count})</h2>
      {session !== null ? (
        <form onSubmit={submit} className="stack">
          <label>
            Your comment
            <textarea value={content} maxLength={2000} rows={2} required onChange={(e) => setContent(e.target.value)} />
          </label>
          <div className="row">
            <label className="inline">
              <input type="checkbox" checked={atPlayhead} onChange={(e) => setAtPlayhead(e.target.checked)} /> at {formatTime((positionMs ?? 0) / 1000)}
            </label>
            <button type="submit" className="primary" disabled={action.busy}>
              Comment
            </button>
          </div>
          {action.error !== null && <p className="error" role="alert">{action.error}</p>}
        </form>
      ) : (
        <p className="muted">
          <Link to="/signin">Sign in</Link> to comment.
        </p>
      )}
      <Show state={comments.state} retry={comments.reload}>
        {(page) => (
          <ul className="comments">
            {page.items.map((c) => (
              <CommentItem key={c.id} track={track} comment={c} comments={comments} onSeek={onSeek} onCountChange={onCountChange} />
            ))}
          </ul>
        )}
      </Show>
      <MoreButton paged={comments} label="Older comments" />
    </section>
  )
}

/** The creator, or an admin: who may change the track (the server checks again). */
const manages = (track: Track) => {
  const me = currentSession()
  return me !== null && (me.userId === track.creator_id || me.role === "admin")
}

const tagsText = (tags: ReadonlyArray<string>) => tags.join(", ")

/** The owner's (or an admin's) controls: the track's details, its numbers, deleting it. */
const TrackManager = ({ track, onSaved }: { track: Track; onSaved: (t: Track) => void }) => {
  const navigate = useNavigate()
  const [open, setOpen] = useState(false)
  const [form, setForm] = useState(() => ({
    title: track.title,
    artist: track.artist ?? "",
    album: track.album ?? "",
    genre: track.genre ?? "",
    tags: tagsText(track.tags),
    description: track.description ?? "",
    visibility: track.visibility,
    is_downloadable: track.is_downloadable
  }))
  const save = useAction()
  const stats = useAsync(() => call((c) => c.tracks.stats({ path: { id: track.id } })), [track.id, track.play_count, track.like_count])
  const field = (name: "title" | "artist" | "album" | "genre" | "tags" | "description") => ({
    value: form[name],
    onChange: (e: { target: { value: string } }) => setForm((f) => ({ ...f, [name]: e.target.value }))
  })
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const saved = await save.run(() =>
      call((c) =>
        c.tracks.update({
          path: { id: track.id },
          payload: {
            title: form.title,
            artist: form.artist,
            album: form.album,
            genre: form.genre,
            tags: splitTags(form.tags),
            description: form.description,
            visibility: form.visibility,
            is_downloadable: form.is_downloadable
          }
        })
      )
    )
    if (saved === undefined) return
    onSaved(saved)
    setOpen(false)
  }
  return (
    <section className="manage" aria-labelledby="manage-title">
      <h2 id="manage-title">Your track</h2>
      <Show state={stats.state} retry={stats.reload}>
        {(s) => (
          <p className="muted" data-testid="track-stats">
            {s.play_count} plays · {s.unique_listeners} listeners · {s.like_count} likes · {s.comment_count} comments
          </p>
        )}
      </Show>
      <div className="row">
        <button type="button" aria-expanded={open} onClick={() => setOpen((o) => !o)}>
          Edit details
        </button>
        <ConfirmDelete what="track" onDelete={() => call((c) => c.tracks.delete({ path: { id: track.id } })).then(() => navigate(`/u/${currentSession()?.username ?? ""}`))} />
      </div>
      {open && (
        <form className="stack" onSubmit={submit} aria-label="Track details">
          <label>
            Title
            <input required maxLength={255} {...field("title")} />
          </label>
          <label>
            Artist
            <input maxLength={255} {...field("artist")} />
          </label>
          <label>
            Album
            <input maxLength={255} {...field("album")} />
          </label>
          <label>
            Genre
            <input maxLength={100} {...field("genre")} />
          </label>
          <label>
            Tags (comma-separated)
            <input {...field("tags")} />
          </label>
          <label>
            Description
            <textarea rows={3} maxLength={5000} {...field("description")} />
          </label>
          <label>
            Visibility
            <select value={form.visibility} onChange={(e) => setForm((f) => ({ ...f, visibility: e.target.value as Track["visibility"] }))}>
              <option value="public">Public</option>
              <option value="unlisted">Unlisted (link only)</option>
              <option value="private">Private (only you)</option>
            </select>
          </label>
          <label className="inline">
            <input type="checkbox" checked={form.is_downloadable} onChange={(e) => setForm((f) => ({ ...f, is_downloadable: e.target.checked }))} /> Listeners may download the
            original file
          </label>
          <div className="row">
            <button type="submit" className="primary" disabled={save.busy}>
              Save
            </button>
            <button type="button" onClick={() => setOpen(false)}>
              Cancel
            </button>
          </div>
          {save.error !== null && <p className="error" role="alert">{save.error}</p>}
        </form>
      )}
    </section>
  )
}

/** The original file, for whoever the track allows: a signed link opened in place. */
const Download = ({ track }: { track: Track }) => {
  const action = useAction()
  const download = async () => {
    const link = await action.run(() => call((c) => c.tracks.download({ path: { id: track.id } })))
    if (link !== undefined) location.assign(link.url)
  }
  return (
    <>
      <button type="button" onClick={download} disabled={action.busy}>
        Download
      </button>
      {action.error !== null && <p className="error small" role="alert">{action.error}</p>}
    </>
  )
}

const CreatorLink = ({ creatorId }: { creatorId: UserId }) => {
  const creator = useAsync(() => call((c) => c.users.byId({ path: { id: creatorId } })), [creatorId])
  if (creator.state.status === "loading") return null
  if (creator.state.status === "error")
    return (
      <>
        <span className="error small">creator unavailable</span>{" "}
        <button type="button" className="link small" onClick={creator.reload}>
          retry
        </button>{" "}
        ·{" "}
      </>
    )
  return (
    <>
      by <Link to={`/u/${creator.state.value.username}`} data-testid="creator-link">@{creator.state.value.username}</Link> ·{" "}
    </>
  )
}

export const TrackPage = () => {
  const { id: trackId = "" } = useParams()
  const player = usePlayer()
  const { session } = useApp()
  const data = useAsync(() => call((c) => c.tracks.byId({ path: { id: id<TrackId>(trackId) } })), [trackId, session?.userId])
  const comments = usePaged(
    (at) => call((c) => c.tracks.comments({ path: { id: id<TrackId>(trackId) }, urlParams: { limit: 100, ...at } })),
    [trackId, session?.userId]
  )
  const commentList = comments.state.status === "ok" ? comments.state.value.items : []
  const like = useAction()
  const track = data.state.status === "ok" ? data.state.value : null
  useTitle(track?.title ?? "Track")

  // A processing track is polled until it is ready (or failed), so its owner watches the transcode.
  const processing = track?.status === "processing"
  useEffect(() => {
    if (!processing) return
    const timer = setInterval(() => data.reload(), 1000)
    return () => clearInterval(timer)
  }, [processing, data.reload])

  const isCurrent = player.current?.id === trackId
  const item = track === null ? null : { id: track.id, title: track.title, artist: track.artist }
  const seek = (seconds: number) => {
    if (isCurrent) player.seek(seconds)
    else if (item !== null) player.play([item], 0, seconds)
  }

  return (
    <Show state={data.state} retry={data.reload}>
      {(t) => (
        <article className="track-page">
          <header className="track-head">
            <button
              type="button"
              className="round big"
              disabled={t.status !== "ready"}
              aria-label={isCurrent && player.playing ? "Pause" : `Play ${t.title}`}
              data-testid="track-play"
              onClick={() => (isCurrent ? player.toggle() : player.play([{ id: t.id, title: t.title, artist: t.artist }]))}
            >
              {isCurrent && player.playing ? <PauseIcon /> : <PlayIcon />}
            </button>
            <div className="grow">
              <h1>{t.title}</h1>
              <p className="muted">
                <CreatorLink creatorId={t.creator_id} />
                {t.artist !== null && <>{t.artist} · </>}
                {formatTime(t.duration_ms / 1000)} · {t.play_count} plays · {t.visibility}
                {t.genre !== null && (
                  <>
                    {" "}
                    · <Link to={`/?genre=${encodeURIComponent(t.genre)}`}>{t.genre}</Link>
                  </>
                )}
              </p>
              {t.tags.length > 0 && (
                <p className="tags">
                  {t.tags.map((tag) => (
                    <Link key={tag} className="tag" to={`/?tags=${encodeURIComponent(tag)}`}>
                      #{tag}
                    </Link>
                  ))}
                </p>
              )}
            </div>
          </header>
          <TranscodeProgress track={t} />
          {t.status === "ready" && <Waveform track={t} comments={commentList} time={player.time} isCurrent={isCurrent} onSeek={seek} />}
          <div className="row actions">
            {session !== null && (
              <button
                type="button"
                aria-pressed={t.liked_by_me}
                disabled={like.busy}
                onClick={async () => {
                  const state = await like.run(() => call((c) => (t.liked_by_me ? c.tracks.unlike({ path: { id: t.id } }) : c.tracks.like({ path: { id: t.id } }))))
                  if (state !== undefined) data.set((tr) => ({ ...tr, liked_by_me: state.liked, like_count: state.like_count }))
                }}
              >
                {t.liked_by_me ? "♥ Liked" : "♡ Like"} · {t.like_count}
              </button>
            )}
            <button type="button" disabled={t.status !== "ready"} onClick={() => player.enqueue({ id: t.id, title: t.title, artist: t.artist })}>
              + Queue
            </button>
            <AddToPlaylist trackId={t.id} />
            <Share track={t} />
            {(t.is_downloadable || manages(t)) && <Download track={t} />}
          </div>
          {like.error !== null && <p className="error" role="alert">{like.error}</p>}
          {t.description !== null && <p className="description">{t.description}</p>}
          {manages(t) && <TrackManager track={t} onSaved={(saved) => data.set(() => saved)} />}
          <Comments
            track={t}
            comments={comments}
            positionMs={isCurrent ? Math.round(player.time * 1000) : 0}
            onSeek={seek}
            onCountChange={(d) => data.set((tr) => ({ ...tr, comment_count: tr.comment_count + d }))}
          />
        </article>
      )}
    </Show>
  )
}

/** `/s/:token`: a share link, which opens the track whatever its visibility. */
export const SharedTrackPage = () => {
  const { token = "" } = useParams()
  const player = usePlayer()
  const shared = useAsync(() => call((c) => c.tracks.shared({ path: { token } })), [token])
  useTitle(shared.state.status === "ok" ? shared.state.value.track.title : "Shared track")
  return (
    <Show state={shared.state} retry={shared.reload}>
      {({ track: t, stream }) => (
        <article className="track-page">
          <header className="track-head">
            <button
              type="button"
              className="round big"
              disabled={stream === null}
              aria-label={`Play ${t.title}`}
              onClick={() => stream !== null && player.play([{ id: t.id, title: t.title, artist: t.artist, src: stream.url }])}
            >
              <PlayIcon />
            </button>
            <div className="grow">
              <h1>{t.title}</h1>
              <p className="muted">
                <CreatorLink creatorId={t.creator_id} />
                {formatTime(t.duration_ms / 1000)} · shared with you
              </p>
            </div>
          </header>
          {stream === null && <p className="muted">This track is not ready to play yet.</p>}
          {t.description !== null && <p className="description">{t.description}</p>}
        </article>
      )}
    </Show>
  )
}
