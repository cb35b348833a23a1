import { useEffect, useState } from "react"
import { Link, useSearchParams } from "react-router"
import { call } from "../api.js"
import { TrackList } from "../tracks.js"
import { EMPTY_PAGE, MoreButton, Show, usePaged, useTitle } from "../ui.js"

export const SearchPage = () => {
  const [params, setParams] = useSearchParams()
  const q = params.get("q") ?? ""
  const type = (params.get("type") ?? "tracks") as "tracks" | "users" | "playlists"
  const [input, setInput] = useState(q)
  useTitle(q === "" ? "Search" : `Search: ${q}`)
  useEffect(() => setInput(q), [q])

  // Type-ahead: the URL (and so the results) follow the input after a short pause.
  useEffect(() => {
    if (input === q) return
    const timer = setTimeout(() => setParams({ q: input, type }, { replace: true }), 250)
    return () => clearTimeout(timer)
  }, [input, q, type, setParams])

  const results = usePaged(
    (at) =>
      q.trim() === ""
        ? Promise.resolve(EMPTY_PAGE)
        : call((c) => c.search.search({ urlParams: { q: q.trim(), type, limit: 30, ...at } })),
    [q, type]
  )

  return (
    <section>
      <h1>Search</h1>
      <form className="row" role="search" onSubmit={(e) => (e.preventDefault(), setParams({ q: input, type }))}>
        <input type="search" aria-label="Search terms" value={input} onChange={(e) => setInput(e.target.value)} placeholder="Title, artist, tag…" autoFocus />
        <button type="submit">Search</button>
      </form>
      <div className="tabs" role="tablist">
        {(["tracks", "users", "playlists"] as const).map((t) => (
          <button key={t} type="button" role="tab" aria-selected={t === type} onClick={() => setParams({ q, type: t })}>
            {t[0]!.toUpperCase() + t.slice(1)}
          </button>
        ))}
      </div>
      <Show state={results.state} retry={results.reload}>
        {(page) =>
          q.trim() === "" ? (
            <p className="muted">Type to search.</p>
          ) : type === "tracks" ? (
            <TrackList
              tracks={page.items.flatMap((h) => (h.type === "track" ? [{ id: h.id, title: h.title, artist: h.artist, duration_ms: h.duration_ms, creator_username: h.creator_username }] : []))}
              empty={`No tracks match “${q}”.`}
            />
          ) : page.items.length === 0 ? (
            <p className="muted">Nothing matches “{q}”.</p>
          ) : (
            <ul className="cards">
              {page.items.map((h) =>
                h.type === "user" ? (
                  <li key={h.id}>
                    <Link to={`/u/${h.username}`}>@{h.username}</Link> {h.display_name !== null && <span>{h.display_name}</span>}
                    <span className="muted small"> · {h.follower_count} followers</span>
                  </li>
                ) : h.type === "playlist" ? (
                  <li key={h.id}>
                    <Link to={`/playlists/${h.id}`}>{h.title}</Link>
                    <span className="muted small">
                      {" "}
                      by {h.owner_username} · {h.track_count} tracks
                    </span>
                  </li>
                ) : null
              )}
            </ul>
          )
        }
      </Show>
      <MoreButton paged={results} />
    </section>
  )
}
