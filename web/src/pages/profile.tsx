import { useState } from "react"
import { Link, useNavigate, useParams } from "react-router"
import { call, id } from "../api.js"
import { useApp } from "../session.js"
import { TrackList } from "../tracks.js"
import { EMPTY_PAGE, MoreButton, Show, useAction, useAsync, usePaged, useTitle } from "../ui.js"
import type { UserId } from "../../../src/users/schema.js"

const FollowButton = ({ userId, onChange }: { userId: string; onChange: (delta: number) => void }) => {
  const { session } = useApp()
  const state = useAsync(
    () =>
      session === null || session.userId === userId
        ? Promise.resolve(false)
        : call((c) => c.social.relationship({ path: { id: id<UserId>(userId) } })).then((r) => r.following),
    [userId, session?.userId]
  )
  const action = useAction()
  if (session === null || session.userId === userId || state.state.status !== "ok") return null
  const following = state.state.value
  return (
    <>
      <button
        type="button"
        className={following ? "" : "primary"}
        aria-pressed={following}
        disabled={action.busy}
        onClick={async () => {
          const ok = await action.run(() =>
            call((c) => (following ? c.social.unfollow({ path: { id: id<UserId>(userId) } }) : c.social.follow({ path: { id: id<UserId>(userId) } }))).then(() => true)
          )
          if (ok) {
            state.set(() => !following)
            onChange(following ? -1 : 1)
          }
        }}
      >
        {following ? "Following ✓" : "Follow"}
      </button>
      {action.error !== null && <span className="error small" role="alert">{action.error}</span>}
    </>
  )
}

export const ProfilePage = () => {
  const { username = "" } = useParams()
  const { session } = useApp()
  const navigate = useNavigate()
  useTitle(`@${username}`)
  const user = useAsync(() => call((c) => c.users.byUsername({ path: { username } })), [username])
  const [followers, setFollowers] = useState(0)
  const userId = user.state.status === "ok" ? user.state.value.id : null
  const tracks = usePaged(
    (at) => (userId === null ? Promise.resolve(EMPTY_PAGE) : call((c) => c.tracks.list({ urlParams: { user_id: userId, limit: 50, ...at } }))),
    [userId]
  )
  const playlists = usePaged(
    (at) => (userId === null ? Promise.resolve(EMPTY_PAGE) : call((c) => c.playlists.byOwner({ path: { id: userId }, urlParams: { limit: 50, ...at } }))),
    [userId]
  )

  return (
    <Show state={user.state} retry={user.reload}>
      {(u) => (
        <article>
          <header className="profile-head">
            <div className="avatar" aria-hidden="true">
              {u.username.slice(0, 1).toUpperCase()}
            </div>
            <div className="grow">
              <h1>{u.display_name ?? u.username}</h1>
              <p className="muted">
                @{u.username} · {u.role} · {u.follower_count + followers} followers · {u.following_count} following · {u.track_count} tracks
              </p>
              {u.bio !== null && <p>{u.bio}</p>}
            </div>
            <div className="row">
              <FollowButton userId={u.id} onChange={(d) => setFollowers((n) => n + d)} />
              {session !== null && session.userId !== u.id && (
                <button type="button" onClick={() => navigate(`/chat?dm=${u.id}`)}>
                  Message
                </button>
              )}
            </div>
          </header>
          <section aria-labelledby="tracks-title">
            <h2 id="tracks-title">Tracks</h2>
            <Show state={tracks.state} retry={tracks.reload}>
              {(page) => <TrackList tracks={page.items.map((t) => ({ ...t, creator_username: u.username }))} empty="No tracks yet." />}
            </Show>
            <MoreButton paged={tracks} />
          </section>
          <section aria-labelledby="playlists-title">
            <h2 id="playlists-title">Playlists</h2>
            <Show state={playlists.state} retry={playlists.reload}>
              {(page) =>
                page.items.length === 0 ? (
                  <p className="muted">No playlists yet.</p>
                ) : (
                  <ul className="cards">
                    {page.items.map((p) => (
                      <li key={p.id}>
                        <Link to={`/playlists/${p.id}`}>{p.title}</Link> <span className="muted small">· {p.track_count} tracks</span>
                      </li>
                    ))}
                  </ul>
                )
              }
            </Show>
            <MoreButton paged={playlists} />
          </section>
        </article>
      )}
    </Show>
  )
}
