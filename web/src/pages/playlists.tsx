import { type FormEvent, useState } from "react"
import { PlayIcon } from "../icons.js"
import { Link, useNavigate, useParams } from "react-router"
import { call, id } from "../api.js"
import { usePlayer } from "../player.js"
import { useApp } from "../session.js"
import { formatTime, Show, useAction, useAsync, useTitle } from "../ui.js"
import { RequireSignIn } from "./auth.js"
import type { Playlist, PlaylistId, PlaylistItem } from "../../../src/playlists/schema.js"
import type { UserId } from "../../../src/users/schema.js"

const PlaylistCards = ({ items, empty }: { items: ReadonlyArray<Playlist>; empty: string }) =>
  items.length === 0 ? (
    <p className="muted">{empty}</p>
  ) : (
    <ul className="cards">
      {items.map((p) => (
        <li key={p.id}>
          <Link to={`/playlists/${p.id}`}>{p.title}</Link>
          <span className="muted small">
            {" "}
            · {p.track_count} tracks · {formatTime(p.total_duration_ms / 1000)} · {p.visibility}
            {p.collaborative && " · collaborative"}
          </span>
        </li>
      ))}
    </ul>
  )

const Playlists = () => {
  useTitle("Playlists")
  const { session } = useApp()
  const navigate = useNavigate()
  const lists = useAsync(
    () =>
      Promise.all([
        call((c) => c.playlists.byOwner({ path: { id: id<UserId>(session!.userId) }, urlParams: { limit: 100 } })),
        call((c) => c.playlists.shared({ urlParams: { limit: 100 } })),
        call((c) => c.playlists.followed({ urlParams: { limit: 100 } }))
      ]),
    [session?.userId]
  )
  const [title, setTitle] = useState("")
  const [collaborative, setCollaborative] = useState(false)
  const [visibility, setVisibility] = useState<"public" | "unlisted" | "private">("public")
  const create = useAction()
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const playlist = await create.run(() => call((c) => c.playlists.create({ payload: { title, collaborative, visibility } })))
    if (playlist !== undefined) navigate(`/playlists/${playlist.id}`)
  }
  return (
    <section>
      <h1>Playlists</h1>
      <form onSubmit={submit} className="row wrap card">
        <label>
          New playlist
          <input value={title} required maxLength={255} placeholder="Title" onChange={(e) => setTitle(e.target.value)} />
        </label>
        <label>
          Visibility
          <select value={visibility} onChange={(e) => setVisibility(e.target.value as typeof visibility)}>
            <option value="public">Public</option>
            <option value="unlisted">Unlisted</option>
            <option value="private">Private</option>
          </select>
        </label>
        <label className="inline">
          <input type="checkbox" checked={collaborative} onChange={(e) => setCollaborative(e.target.checked)} /> Collaborative
        </label>
        <button type="submit" className="primary" disabled={create.busy}>
          Create
        </button>
        {create.error !== null && <p className="error" role="alert">{create.error}</p>}
      </form>
      <Show state={lists.state} retry={lists.reload}>
        {([mine, shared, followed]) => (
          <>
            <h2>Mine</h2>
            <PlaylistCards items={mine.items} empty="You have no playlists yet." />
            <h2>Shared with me</h2>
            <PlaylistCards items={shared.items} empty="Nobody has invited you to a playlist yet." />
            <h2>Following</h2>
            <PlaylistCards items={followed.items} empty="You follow no playlists." />
          </>
        )}
      </Show>
    </section>
  )
}

export const PlaylistsPage = () => (
  <RequireSignIn what="see your playlists">
    <Playlists />
  </RequireSignIn>
)

const Collaborators = ({ playlist }: { playlist: Playlist }) => {
  const list = useAsync(() => call((c) => c.playlists.collaborators({ path: { id: playlist.id } })), [playlist.id])
  const [username, setUsername] = useState("")
  const [role, setRole] = useState<"editor" | "viewer">("editor")
  const invite = useAction()
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const ok = await invite.run(async () => {
      const user = await call((c) => c.users.byUsername({ path: { username: username.trim().replace(/^@/, "") } }))
      await call((c) => c.playlists.invite({ path: { id: playlist.id }, payload: { user_id: user.id, role } }))
      return true
    })
    if (ok) {
      setUsername("")
      list.reload()
    }
  }
  return (
    <section aria-labelledby="collab-title">
      <h2 id="collab-title">Collaborators</h2>
      <Show state={list.state} retry={list.reload}>
        {(page) =>
          page.items.length === 0 ? (
            <p className="muted">Nobody else edits this playlist yet.</p>
          ) : (
            <ul className="plain">
              {page.items.map((c) => (
                <li key={c.user_id}>
                  <Link to={`/u/${c.username}`}>@{c.username}</Link> <span className="muted small">{c.role}</span>
                </li>
              ))}
            </ul>
          )
        }
      </Show>
      {playlist.my_role === "owner" && (
        <form onSubmit={submit} className="row wrap">
          <label>
            Invite by username
            <input value={username} required onChange={(e) => setUsername(e.target.value)} />
          </label>
          <label>
            Role
            <select value={role} onChange={(e) => setRole(e.target.value as typeof role)}>
              <option value="editor">Editor</option>
              <option value="viewer">Viewer</option>
            </select>
          </label>
          <button type="submit" disabled={invite.busy}>
            Invite
          </button>
          {invite.error !== null && <p className="error" role="alert">{invite.error}</p>}
        </form>
      )}
    </section>
  )
}

/** Entries reorder by drag and drop, or with the ↑/↓ buttons from the keyboard; each move is one PATCH. */
const Entries = ({ playlist, items, onChange }: { playlist: Playlist; items: ReadonlyArray<PlaylistItem>; onChange: (items: ReadonlyArray<PlaylistItem>) => void }) => {
  const player = usePlayer()
  const canEdit = playlist.my_role === "owner" || playlist.my_role === "editor"
  const [dragging, setDragging] = useState<number | null>(null)
  const [over, setOver] = useState<number | null>(null)
  const action = useAction()
  const queue = items.filter((i) => i.track.status === "ready").map((i) => ({ id: i.track.id, title: i.track.title, artist: i.track.artist }))

  const move = async (from: number, to: number) => {
    if (from === to || to < 0 || to >= items.length) return
    const entry = items[from]!
    const reordered = [...items]
    reordered.splice(from, 1)
    reordered.splice(to, 0, entry)
    const previous = items
    onChange(reordered.map((it, i) => ({ ...it, position: i + 1 })))
    const ok = await action.run(() => call((c) => c.playlists.moveTrack({ path: { id: playlist.id, track_id: entry.track.id }, payload: { position: to + 1 } })).then(() => true))
    if (!ok) onChange(previous)
  }
  const remove = async (index: number) => {
    const entry = items[index]!
    const ok = await action.run(() => call((c) => c.playlists.removeTrack({ path: { id: playlist.id, track_id: entry.track.id } })).then(() => true))
    if (ok) onChange(items.filter((_, i) => i !== index).map((it, i) => ({ ...it, position: i + 1 })))
  }

  return (
    <>
      {action.error !== null && <p className="error" role="alert">{action.error}</p>}
      {items.length === 0 ? (
        <p className="muted">No tracks yet: add some from a track page (+ Playlist).</p>
      ) : (
        <ol className="tracks entries" data-testid="playlist-entries">
          {items.map((entry, i) => (
            <li
              key={entry.track.id}
              draggable={canEdit}
              className={[dragging === i ? "dragging" : "", over === i ? "drop-target" : ""].join(" ")}
              onDragStart={(e) => {
                setDragging(i)
                e.dataTransfer.effectAllowed = "move"
                e.dataTransfer.setData("text/plain", String(i))
              }}
              onDragOver={(e) => {
                if (dragging === null) return
                e.preventDefault()
                setOver(i)
              }}
              onDragLeave={() => setOver((o) => (o === i ? null : o))}
              onDrop={(e) => {
                e.preventDefault()
                const from = dragging ?? Number(e.dataTransfer.getData("text/plain"))
                setDragging(null)
                setOver(null)
                void move(from, i)
              }}
              onDragEnd={() => {
                setDragging(null)
                setOver(null)
              }}
            >
              {canEdit && (
                <span className="handle" aria-hidden="true" title="Drag to reorder">
                  ≡
                </span>
              )}
              <span className="muted">{entry.position}.</span>
              <button
                type="button"
                className="round"
                aria-label={`Play ${entry.track.title}`}
                disabled={entry.track.status !== "ready"}
                onClick={() => player.play(queue, queue.findIndex((q) => q.id === entry.track.id))}
              >
                <PlayIcon />
              </button>
              <div className="grow">
                <Link to={`/tracks/${entry.track.id}`}>{entry.track.title}</Link>
                <div className="muted small">{formatTime(entry.track.duration_ms / 1000)}</div>
              </div>
              {canEdit && (
                <span className="row tight">
                  <button type="button" className="small" aria-label={`Move ${entry.track.title} up`} disabled={i === 0 || action.busy} onClick={() => move(i, i - 1)}>
                    ↑
                  </button>
                  <button type="button" className="small" aria-label={`Move ${entry.track.title} down`} disabled={i === items.length - 1 || action.busy} onClick={() => move(i, i + 1)}>
                    ↓
                  </button>
                  <button type="button" className="small" aria-label={`Remove ${entry.track.title}`} disabled={action.busy} onClick={() => remove(i)}>
                    ✕
                  </button>
                </span>
              )}
            </li>
          ))}
        </ol>
      )}
    </>
  )
}

export const PlaylistPage = () => {
  const { id: playlistId = "" } = useParams()
  const { session } = useApp()
  const navigate = useNavigate()
  const player = usePlayer()
  const data = useAsync(
    () =>
      Promise.all([
        call((c) => c.playlists.get({ path: { id: id<PlaylistId>(playlistId) } })),
        call((c) => c.playlists.tracks({ path: { id: id<PlaylistId>(playlistId) }, urlParams: { limit: 100 } }))
      ]),
    [playlistId, session?.userId]
  )
  const action = useAction()
  useTitle(data.state.status === "ok" ? data.state.value[0].title : "Playlist")
  return (
    <Show state={data.state} retry={data.reload}>
      {([p, page]) => (
        <article>
          <header>
            <h1>{p.title}</h1>
            <p className="muted">
              {p.track_count} tracks · {formatTime(p.total_duration_ms / 1000)} · {p.visibility}
              {p.collaborative && " · collaborative"} · {p.follower_count} followers
              {p.my_role !== null && ` · you are ${p.my_role === "owner" ? "the owner" : `an ${p.my_role}`}`}
            </p>
            {p.description !== null && <p>{p.description}</p>}
            <div className="row wrap">
              <button
                type="button"
                className="primary"
                disabled={page.items.length === 0}
                onClick={() => player.play(page.items.filter((i) => i.track.status === "ready").map((i) => ({ id: i.track.id, title: i.track.title, artist: i.track.artist })))}
              >
                <PlayIcon /> Play all
              </button>
              {session !== null && (
                <button
                  type="button"
                  disabled={action.busy}
                  onClick={async () => {
                    const copy = await action.run(() => call((c) => c.playlists.duplicate({ path: { id: p.id } })))
                    if (copy !== undefined) navigate(`/playlists/${copy.id}`)
                  }}
                >
                  Duplicate
                </button>
              )}
              {session !== null && p.my_role !== "owner" && (
                <button
                  type="button"
                  aria-pressed={p.following}
                  disabled={action.busy}
                  onClick={async () => {
                    const ok = await action.run(() => call((c) => (p.following ? c.playlists.unfollow({ path: { id: p.id } }) : c.playlists.follow({ path: { id: p.id } }))).then(() => true))
                    if (ok) data.set(([pl, items]) => [{ ...pl, following: !pl.following }, items])
                  }}
                >
                  {p.following ? "Following ✓" : "Follow"}
                </button>
              )}
              {p.my_role === "owner" && (
                <button
                  type="button"
                  className="danger"
                  disabled={action.busy}
                  onClick={async () => {
                    if (!confirm(`Delete “${p.title}”?`)) return
                    const ok = await action.run(() => call((c) => c.playlists.delete({ path: { id: p.id } })).then(() => true))
                    if (ok) navigate("/playlists")
                  }}
                >
                  Delete
                </button>
              )}
            </div>
            {action.error !== null && <p className="error" role="alert">{action.error}</p>}
          </header>
          <Entries playlist={p} items={page.items} onChange={(items) => data.set(([pl, pg]) => [pl, { ...pg, items }])} />
          {session !== null && p.my_role !== null && <Collaborators playlist={p} />}
        </article>
      )}
    </Show>
  )
}
