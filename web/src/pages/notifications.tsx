import { useEffect } from "react"
import { Link } from "react-router"
import { call } from "../api.js"
import { realtime } from "../realtime.js"
import { useApp } from "../session.js"
import { formatDate, Show, useAction, useAsync, useTitle } from "../ui.js"
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
  const list = useAsync(() => call((c) => c.social.notifications({ urlParams: { limit: 50 } })), [])
  const action = useAction()

  // New ones arrive live over the socket and go on top.
  useEffect(
    () =>
      realtime.subscribe((frame) => {
        if (frame.type !== "notification") return
        list.reload()
      }),
    [list.reload]
  )

  return (
    <section>
      <div className="row spread">
        <h1>Notifications</h1>
        <button
          type="button"
          disabled={action.busy}
          onClick={async () => {
            const ok = await action.run(() => call((c) => c.social.readAllNotifications()).then(() => true))
            if (ok) {
              setUnread(() => 0)
              list.set((page) => ({ ...page, unread_count: 0, items: page.items.map((n) => ({ ...n, read: true })) }))
            }
          }}
        >
          Mark all read
        </button>
      </div>
      {action.error !== null && <p className="error" role="alert">{action.error}</p>}
      <Show state={list.state} retry={list.reload}>
        {(page) =>
          page.items.length === 0 ? (
            <p className="muted">No notifications yet.</p>
          ) : (
            <ul className="notifications">
              {page.items.map((n) => {
                const d = describe(n)
                return (
                  <li key={n.id} className={n.read ? "" : "unread"} data-testid="notification">
                    {d.link !== undefined ? (
                      <Link
                        to={d.link}
                        onClick={() => {
                          if (n.read) return
                          setUnread((c) => Math.max(0, c - 1))
                          void call((c) => c.social.readNotification({ path: { id: n.id } })).catch(() => {})
                        }}
                      >
                        {d.text}
                      </Link>
                    ) : (
                      <span>{d.text}</span>
                    )}
                    <span className="muted small"> · {formatDate(n.created_at)}</span>
                  </li>
                )
              })}
            </ul>
          )
        }
      </Show>
    </section>
  )
}

export const NotificationsPage = () => (
  <RequireSignIn what="see your notifications">
    <Notifications />
  </RequireSignIn>
)
