import { type FormEvent, useEffect, useState } from "react"
import { Link, useSearchParams } from "react-router"
import { call } from "../api.js"
import { useApp } from "../session.js"
import { splitTags, TrackList } from "../tracks.js"
import { MoreButton, Show, usePaged, useTitle } from "../ui.js"

const Feed = () => {
  const feed = usePaged((at) => call((c) => c.social.feed({ urlParams: { limit: 30, ...at } })), [])
  return (
    <section aria-labelledby="feed-title">
      <h2 id="feed-title">From artists you follow</h2>
      <Show state={feed.state} retry={feed.reload}>
        {(page) => <TrackList tracks={page.items} empty="Nothing yet: follow artists to see their new tracks here." />}
      </Show>
      <MoreButton paged={feed} />
    </section>
  )
}

/** The catalogue, newest first, narrowed by genre or tag (kept in the URL, so a track's genre and tags link here). */
const Browse = () => {
  const [params, setParams] = useSearchParams()
  const genre = params.get("genre") ?? ""
  const tags = params.get("tags") ?? ""
  const [input, setInput] = useState({ genre, tags })
  useEffect(() => setInput({ genre, tags }), [genre, tags])
  const latest = usePaged(
    (at) =>
      call((c) =>
        c.tracks.list({
          urlParams: {
            limit: 20,
            ...at,
            ...(genre === "" ? {} : { genre }),
            ...(tags === "" ? {} : { tags: splitTags(tags) })
          }
        })
      ),
    [genre, tags]
  )
  const apply = (e: FormEvent) => {
    e.preventDefault()
    const next: Record<string, string> = {}
    if (input.genre.trim() !== "") next.genre = input.genre.trim()
    if (input.tags.trim() !== "") next.tags = input.tags.trim()
    setParams(next)
  }
  const filtered = genre !== "" || tags !== ""
  return (
    <section aria-labelledby="latest-title">
      <h2 id="latest-title">{filtered ? "Browse" : "New on Veza"}</h2>
      <form className="row filters" onSubmit={apply} aria-label="Browse by genre or tag">
        <label>
          Genre
          <input value={input.genre} maxLength={100} onChange={(e) => setInput((i) => ({ ...i, genre: e.target.value }))} placeholder="e.g. techno" />
        </label>
        <label>
          Tags
          <input value={input.tags} onChange={(e) => setInput((i) => ({ ...i, tags: e.target.value }))} placeholder="e.g. lofi, chill" />
        </label>
        <button type="submit">Browse</button>
        {filtered && (
          <button type="button" onClick={() => setParams({})}>
            Clear
          </button>
        )}
      </form>
      <Show state={latest.state} retry={latest.reload}>
        {(page) => <TrackList tracks={page.items.filter((t) => t.status === "ready")} empty={filtered ? "No tracks match." : "No tracks yet."} />}
      </Show>
      <MoreButton paged={latest} />
    </section>
  )
}

export const HomePage = () => {
  useTitle("")
  const { session } = useApp()
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
      <Browse />
    </>
  )
}
