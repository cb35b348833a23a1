import { useEffect, useState } from "react"
import { Link } from "react-router"
import { call } from "../api.js"
import { realtime } from "../realtime.js"
import { useApp } from "../session.js"
import { formatDate, MoreButton, Show, useAction, usePaged, useTitle } from "../ui.js"
import { RequireSignIn } from "./auth.js"
import type { Notification } from "../../../src/social/schema.js"

const describe = (n: Notification) => {
  const who = n.actor_username ?? "Someone"
  const p = n.payload as Record<string, string | undefined>
  switch (n.type) {
    case "follow":
      return { text: `${who} started following you`, link: `/u/${who}` }
    case "like":
      return { text: `${who} liked your track`, link: p["track_id"] ? `/tracks/${p["track_id"]}` : undefined }
    case "comment":
      return { text: `${who} commented on your track${p["content"] ? `: “${p["content"]}”` : ""}`, link: p["track_id"] ? `/tracks/${p["track_id"]}` : undefined }
    case "playlist_invite":
      return { text: `${who} invited you to the playlist “${p["title"] ?? ""}”`, link: p["playlist_id"] ? `/playlists/${p["playlist_id"]}` : undefined }
    default:
      return { text: `${who}: ${n.type.replace(/_/g, " ")}`, link: undefined }
  }
}

const Notifications = () => {
  useTitle("Notifications")
  const { setUnread } = useApp()
  const list = usePaged((at) => call((c) => c.social.notifications({ urlParams: { limit: 50, ...at } })), [])
  const markRead = useAction()
  // What was unread when it was shown stays highlighted for this visit, though the server now has it read.
  const [fresh, setFresh] = useState<ReadonlySet<string>>(() => new Set())

  // New ones arrive live over the socket and go on top.
  useEffect(
    () =>
      realtime.subscribe((frame) => {
        if (frame.type !== "notification") return
        list.reload()
      }),
    [list.reload]
  )

  // Seeing the list reads it, as on Instagram or SoundCloud: the badge clears (also for what arrives while the page is open).
  const { run } = markRead
  const page = list.state.status === "ok" ? list.state.value : undefined
  useEffect(() => {
    if (page === undefined) return
    const unread = page.items.filter((n) => !n.read)
    if (unread.length === 0 && page.unread_count === 0) return
    setFresh((f) => new Set([...f, ...unread.map((n) => n.id)]))
    void run(() => call((c) => c.social.readAllNotifications()).then(() => true)).then((ok) => {
      if (ok) setUnread(() => 0)
    })
  }, [page, run, setUnread])

  return (
    <section>
      <h1>Notifications</h1>
      {markRead.error !== null && <p className="error" role="alert">Could not mark them as read: {markRead.error}</p>}
      <Show state={list.state} retry={list.reload}>
        {(page) =>
          page.items.length === 0 ? (
            <p className="muted">No notifications yet.</p>
          ) : (
            <ul className="notifications">
              {page.items.map((n) => {
                const d = describe(n)
                const unread = !n.read || fresh.has(n.id)
                return (
                  <li key={n.id} className={unread ? "unread" : ""} data-testid="notification" data-unread={unread}>
                    {d.link !== undefined ? <Link to={d.link}>{d.text}</Link> : <span>{d.text}</span>}
                    {unread && <span className="sr-only"> (new)</span>}
                    <span className="muted small"> · {formatDate(n.created_at)}</span>
                  </li>
                )
              })}
            </ul>
          )
        }
      </Show>
      <MoreButton paged={list} label="Older notifications" />
    </section>
  )
}

export const NotificationsPage = () => (
  <RequireSignIn what="see your notifications">
    <Notifications />
  </RequireSignIn>
)
