import { Link } from "react-router"
import { call } from "../api.js"
import { useApp } from "../session.js"
import { TrackList } from "../tracks.js"
import { Show, useAsync, useTitle } from "../ui.js"

const Feed = () => {
  const feed = useAsync(() => call((c) => c.social.feed({ urlParams: { limit: 30 } })), [])
  return (
    <section aria-labelledby="feed-title">
      <h2 id="feed-title">From artists you follow</h2>
      <Show state={feed.state} retry={feed.reload}>
        {(page) => <TrackList tracks={page.items} empty="Nothing yet: follow artists to see their new tracks here." />}
      </Show>
    </section>
  )
}

export const HomePage = () => {
  useTitle("")
  const { session } = useApp()
  const latest = useAsync(() => call((c) => c.tracks.list({ urlParams: { limit: 20 } })), [])
  return (
    <>
      {session === null && (
        <section className="hero">
          <h1>Music from the people who make it</h1>
          <p>Stream, comment at the exact second, build playlists together, talk in real time, and buy beats with a licence.</p>
          <p className="row">
            <Link className="button primary" to="/signup">
              Create an account
            </Link>
            <Link className="button" to="/signin">
              Sign in
            </Link>
          </p>
        </section>
      )}
      {session !== null && <Feed />}
      <section aria-labelledby="latest-title">
        <h2 id="latest-title">New on Veza</h2>
        <Show state={latest.state} retry={latest.reload}>
          {(page) => <TrackList tracks={page.items.filter((t) => t.status === "ready")} empty="No tracks yet." />}
        </Show>
      </section>
    </>
  )
}
