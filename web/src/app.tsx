import { useEffect, useRef, useState } from "react"
import { Link, NavLink, Route, Routes, useLocation, useNavigate } from "react-router"
import { call, toApiError } from "./api.js"
import { ResetPasswordPage, VerifyEmailPage } from "./pages/account.js"
import { AuthPage } from "./pages/auth.js"
import { ChatPage } from "./pages/chat.js"
import { HomePage } from "./pages/home.js"
import { CartPage, MarketPage, ProductPage, PurchasesPage, SellPage } from "./pages/market.js"
import { NotificationsPage } from "./pages/notifications.js"
import { PlaylistPage, PlaylistsPage } from "./pages/playlists.js"
import { ProfilePage } from "./pages/profile.js"
import { SearchPage } from "./pages/search.js"
import { SettingsPage } from "./pages/settings.js"
import { SharedTrackPage, TrackPage } from "./pages/track.js"
import { UploadPage } from "./pages/upload.js"
import { PlayerBar, PlayerProvider } from "./player.js"
import { AppProvider, useApp } from "./session.js"
import type { SearchHit } from "../../src/search/schema.js"

const hitLink = (hit: SearchHit) =>
  hit.type === "track" ? `/tracks/${hit.id}` : hit.type === "user" ? `/u/${hit.username}` : `/playlists/${hit.id}`
const hitLabel = (hit: SearchHit) =>
  hit.type === "track" ? `${hit.title} — ${hit.creator_username}` : hit.type === "user" ? `@${hit.username}` : `${hit.title} (playlist)`

/** The header's type-ahead: suggestions after a short pause, Enter opens the full results. */
const SearchBox = () => {
  const navigate = useNavigate()
  const [q, setQ] = useState("")
  const [hits, setHits] = useState<ReadonlyArray<SearchHit>>([])
  const [failure, setFailure] = useState<string | null>(null)
  const [open, setOpen] = useState(false)
  const [active, setActive] = useState(-1)
  const generation = useRef(0)

  useEffect(() => {
    const term = q.trim()
    if (term.length < 2) {
      setFailure(null)
      return setHits([])
    }
    const mine = ++generation.current
    const timer = setTimeout(() => {
      call((c) => c.search.search({ urlParams: { q: term, limit: 6 } })).then(
        (r) => {
          if (mine !== generation.current) return
          setHits(r.items)
          setFailure(null)
        },
        (e: unknown) => {
          if (mine !== generation.current) return
          setHits([])
          setFailure(toApiError(e).message)
        }
      )
    }, 180)
    return () => clearTimeout(timer)
  }, [q])

  const go = (to: string) => {
    setOpen(false)
    setQ("")
    navigate(to)
  }

  return (
    <form
      className="search-box"
      role="search"
      onSubmit={(e) => {
        e.preventDefault()
        const hit = hits[active]
        go(hit !== undefined ? hitLink(hit) : `/search?q=${encodeURIComponent(q.trim())}`)
      }}
    >
      <input
        type="search"
        placeholder="Search tracks, artists, playlists"
        aria-label="Search"
        value={q}
        role="combobox"
        aria-expanded={open && hits.length > 0}
        aria-controls="search-suggestions"
        aria-autocomplete="list"
        onChange={(e) => {
          setQ(e.target.value)
          setOpen(true)
          setActive(-1)
        }}
        onFocus={() => setOpen(true)}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
        onKeyDown={(e) => {
          if (e.key === "ArrowDown") setActive((a) => Math.min(a + 1, hits.length - 1))
          else if (e.key === "ArrowUp") setActive((a) => Math.max(a - 1, -1))
          else if (e.key === "Escape") setOpen(false)
          else return
          e.preventDefault()
        }}
      />
      {open && failure !== null && (
        <p className="suggestions error small" role="alert">
          Suggestions are unavailable: {failure} Press Enter to search anyway.
        </p>
      )}
      {open && hits.length > 0 && (
        <ul id="search-suggestions" className="suggestions" role="listbox">
          {hits.map((hit, i) => (
            <li key={`${hit.type}-${hit.id}`} role="option" aria-selected={i === active}>
              <button type="button" onMouseDown={(e) => e.preventDefault()} onClick={() => go(hitLink(hit))}>
                <span className="tag">{hit.type}</span> {hitLabel(hit)}
              </button>
            </li>
          ))}
        </ul>
      )}
    </form>
  )
}

const ConnectionBadge = () => {
  const { connection, session } = useApp()
  if (session === null) return null
  const label = connection === "online" ? "Live" : connection === "connecting" ? "Connecting…" : "Offline — reconnecting"
  return (
    <span className={`connection ${connection}`} data-testid="connection" data-state={connection} title="Live connection (chat and notifications)">
      <span className="dot" aria-hidden="true" /> {label}
    </span>
  )
}

const Header = () => {
  const { session, unread } = useApp()
  const [menu, setMenu] = useState(false)
  const location = useLocation()
  useEffect(() => setMenu(false), [location.pathname])
  return (
    <header className="top">
      <a href="#main" className="skip">
        Skip to content
      </a>
      <Link to="/" className="brand" aria-label="Veza home">
        <span aria-hidden="true">▼</span> Veza
      </Link>
      <SearchBox />
      <button type="button" className="menu-toggle" aria-expanded={menu} aria-controls="nav" onClick={() => setMenu((m) => !m)}>
        Menu
      </button>
      <nav id="nav" className={menu ? "open" : ""} aria-label="Main">
        <NavLink to="/" end>
          Home
        </NavLink>
        <NavLink to="/market">Market</NavLink>
        {session !== null ? (
          <>
            <NavLink to="/upload">Upload</NavLink>
            <NavLink to="/playlists">Playlists</NavLink>
            <NavLink to="/chat">Chat</NavLink>
            <NavLink to="/notifications" aria-label={`Notifications, ${unread} unread`}>
              Notifications{unread > 0 && <span className="badge" data-testid="unread-badge">{unread}</span>}
            </NavLink>
            <NavLink to={`/u/${session.username}`}>@{session.username}</NavLink>
            <NavLink to="/settings">Settings</NavLink>
            <ConnectionBadge />
          </>
        ) : (
          <>
            <NavLink to="/signin">Sign in</NavLink>
            <NavLink to="/signup" className="button">
              Sign up
            </NavLink>
          </>
        )}
      </nav>
    </header>
  )
}

const NotFoundPage = () => (
  <section>
    <h1>Not found</h1>
    <p>
      There is nothing at this address. <Link to="/">Go home</Link>.
    </p>
  </section>
)

export const App = () => (
  <AppProvider>
    <PlayerProvider>
      <Header />
      <main id="main" tabIndex={-1}>
        <Routes>
          <Route path="/" element={<HomePage />} />
          <Route path="/signin" element={<AuthPage mode="signin" />} />
          <Route path="/signup" element={<AuthPage mode="signup" />} />
          <Route path="/verify-email" element={<VerifyEmailPage />} />
          <Route path="/reset-password" element={<ResetPasswordPage />} />
          <Route path="/search" element={<SearchPage />} />
          <Route path="/tracks/:id" element={<TrackPage />} />
          <Route path="/s/:token" element={<SharedTrackPage />} />
          <Route path="/upload" element={<UploadPage />} />
          <Route path="/u/:username" element={<ProfilePage />} />
          <Route path="/playlists" element={<PlaylistsPage />} />
          <Route path="/playlists/:id" element={<PlaylistPage />} />
          <Route path="/notifications" element={<NotificationsPage />} />
          <Route path="/chat" element={<ChatPage />} />
          <Route path="/chat/:roomId" element={<ChatPage />} />
          <Route path="/market" element={<MarketPage />} />
          <Route path="/market/sell" element={<SellPage />} />
          <Route path="/market/products/:id" element={<ProductPage />} />
          <Route path="/cart" element={<CartPage />} />
          <Route path="/purchases" element={<PurchasesPage />} />
          <Route path="/settings" element={<SettingsPage />} />
          <Route path="*" element={<NotFoundPage />} />
        </Routes>
      </main>
      <PlayerBar />
    </PlayerProvider>
  </AppProvider>
)

