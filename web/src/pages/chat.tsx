import { type FormEvent, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react"
import { Link, useNavigate, useParams, useSearchParams } from "react-router"
import { call, id } from "../api.js"
import { type ChatMessage, type Frame, realtime } from "../realtime.js"
import { useApp } from "../session.js"
import { ErrorBox, Loading, Show, useAction, useAsync, useTitle } from "../ui.js"
import { RequireSignIn } from "./auth.js"
import type { RoomId } from "../../../src/chat/schema.js"
import type { UserId } from "../../../src/users/schema.js"

const REACTIONS = ["👍", "❤️", "😂", "🔥"]

/** Usernames by id, fetched once per id for the whole tab. */
const usernames = new Map<string, Promise<string>>()
const usernameOf = (userId: string) => {
  let name = usernames.get(userId)
  if (name === undefined) {
    name = call((c) => c.users.byId({ path: { id: id<UserId>(userId) } })).then(
      (u) => u.username,
      () => "unknown"
    )
    usernames.set(userId, name)
  }
  return name
}

const useUsernames = (ids: ReadonlyArray<string>) => {
  const [names, setNames] = useState<Record<string, string>>({})
  const key = [...new Set(ids)].sort().join(",")
  useEffect(() => {
    let live = true
    for (const userId of key.split(",").filter((s) => s !== "")) {
      void usernameOf(userId).then((name) => live && setNames((n) => (n[userId] === name ? n : { ...n, [userId]: name })))
    }
    return () => {
      live = false
    }
  }, [key])
  return names
}

interface Pending {
  readonly client_id: string
  readonly content: string
  readonly failed: boolean
}

const ConnectionLine = () => {
  const { connection } = useApp()
  if (connection === "online") return null
  return (
    <p className={`connection-line ${connection}`} role="status" data-testid="chat-connection">
      {connection === "connecting" ? "Connecting…" : "Offline: messages you write are kept and sent when the connection is back; missed messages are fetched then."}{" "}
      {connection === "offline" && (
        <button type="button" className="small" onClick={() => realtime.reconnectNow()}>
          Reconnect now
        </button>
      )}
    </p>
  )
}

const Room = ({ roomId, me }: { roomId: string; me: string }) => {
  const { connection } = useApp()
  const room = useAsync(() => call((c) => c.chat.getRoom({ path: { id: id<RoomId>(roomId) } })), [roomId])
  const [messages, setMessages] = useState<ReadonlyMap<number, ChatMessage>>(new Map())
  const [hasMore, setHasMore] = useState(false)
  const [loading, setLoading] = useState(true)
  const [error, setError] = useState<string | null>(null)
  const [reactions, setReactions] = useState<Record<string, Record<string, ReadonlyArray<string>>>>({})
  const [typing, setTyping] = useState<Record<string, number>>({})
  const [presence, setPresence] = useState<Record<string, string>>({})
  const [readBy, setReadBy] = useState<Record<string, number>>({})
  const [pending, setPending] = useState<ReadonlyArray<Pending>>([])
  const [draft, setDraft] = useState("")
  const [editing, setEditing] = useState<{ id: string; content: string } | null>(null)
  const list = useRef<HTMLOListElement | null>(null)
  const stickToBottom = useRef(true)
  const lastTypingSent = useRef(0)
  const lastReadSent = useRef<string | null>(null)
  const action = useAction()

  /** Messages read back carry their reactions, which replace what the page knew of them. */
  const seedReactions = useCallback((incoming: ReadonlyArray<ChatMessage>) => {
    const read = incoming.filter((m) => m.reactions !== undefined)
    if (read.length === 0) return
    setReactions((r) => ({ ...r, ...Object.fromEntries(read.map((m) => [m.id, Object.fromEntries(m.reactions!.map((x) => [x.emoji, x.user_ids]))])) }))
  }, [])

  const merge = useCallback(
    (incoming: ReadonlyArray<ChatMessage>) => {
      if (incoming.length === 0) return
      setMessages((current) => {
        const next = new Map(current)
        for (const m of incoming) next.set(m.seq, m)
        return next
      })
      seedReactions(incoming)
    },
    [seedReactions]
  )

  /** Receipts sent while this page was closed (or the socket down) are in the members' read markers. */
  const seedReadBy = useCallback(async () => {
    try {
      const members = await call((c) => c.chat.members({ path: { id: id<RoomId>(roomId) } }))
      setReadBy((r) => {
        const next = { ...r }
        for (const m of members.items) if (m.user_id !== me) next[m.user_id] = Math.max(next[m.user_id] ?? 0, m.last_read_seq)
        return next
      })
    } catch {
      // Only "Seen" is missing then; live receipts still arrive.
    }
  }, [roomId, me])

  const loadLatest = useCallback(async () => {
    setLoading(true)
    setError(null)
    try {
      const reply = await realtime.join(roomId)
      const presenceList = (reply["presence"] as Array<{ user_id: string; status: string }> | undefined) ?? []
      setPresence(Object.fromEntries(presenceList.map((p) => [p.user_id, p.status])))
      const history = await realtime.request({ type: "history", room_id: roomId, limit: 50 })
      const latest = (history["messages"] as Array<ChatMessage>) ?? []
      setMessages(new Map(latest.map((m) => [m.seq, m])))
      seedReactions(latest)
      setHasMore(Boolean(history["has_more"]))
      stickToBottom.current = true
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e))
    } finally {
      setLoading(false)
    }
  }, [roomId, seedReactions])

  // (Re)load when the room changes or the connection comes back without having loaded.
  const loaded = useRef<string | null>(null)
  useEffect(() => {
    if (connection !== "online" || loaded.current === roomId) return
    loaded.current = roomId
    setMessages(new Map())
    setReactions({})
    setTyping({})
    setReadBy({})
    void loadLatest()
  }, [roomId, connection, loadLatest])

  const loadEarlier = async () => {
    const first = Math.min(...messages.keys())
    if (!Number.isFinite(first)) return
    const el = list.current
    const before = el === null ? 0 : el.scrollHeight - el.scrollTop
    const history = await action.run(() => realtime.request({ type: "history", room_id: roomId, before_seq: first, limit: 50 }))
    if (history === undefined) return
    stickToBottom.current = false
    merge((history["messages"] as Array<ChatMessage>) ?? [])
    setHasMore(Boolean(history["has_more"]))
    // Keep the message that was at the top where it was.
    requestAnimationFrame(() => {
      if (el !== null) el.scrollTop = el.scrollHeight - before
    })
  }

  // Live events of this room.
  useEffect(
    () =>
      realtime.subscribe((frame: Frame) => {
        const f = frame as Frame & Record<string, any>
        if (f["room_id"] !== undefined && f["room_id"] !== roomId && f.type !== "presence" && f.type !== "message" && f.type !== "ack") return
        switch (f.type) {
          case "message":
          case "ack":
          case "message_edited": {
            const m = f["message"] as ChatMessage
            if (m.room_id !== roomId) return
            if (f.type === "ack") setPending((p) => p.filter((x) => x.client_id !== f["client_id"]))
            if (f.type === "message") setTyping((t) => ({ ...t, [m.sender_id]: 0 }))
            merge([m])
            return
          }
          case "joined":
            // A reconnect replays what was missed; a too-large gap asks for a reload.
            if (f["recovered"] === false && (f["messages"] as Array<unknown>).length === 0 && messages.size > 0) void loadLatest()
            else merge((f["messages"] as Array<ChatMessage>) ?? [])
            for (const p of (f["presence"] as Array<{ user_id: string; status: string }> | undefined) ?? []) setPresence((s) => ({ ...s, [p.user_id]: p.status }))
            // On opening the room and after every reconnect.
            void seedReadBy()
            return
          case "message_deleted":
            setMessages((current) => {
              const next = new Map(current)
              next.delete(f["seq"] as number)
              return next
            })
            return
          case "reaction_added":
          case "reaction_removed":
            setReactions((r) => {
              const forMessage = { ...(r[f["message_id"]] ?? {}) }
              const users = (forMessage[f["emoji"]] ?? []).filter((u) => u !== f["user_id"])
              forMessage[f["emoji"]] = f.type === "reaction_added" ? [...users, f["user_id"]] : users
              return { ...r, [f["message_id"]]: forMessage }
            })
            return
          case "typing":
            if (f["user_id"] !== me) setTyping((t) => ({ ...t, [f["user_id"]]: f["state"] === "start" ? Date.now() + 6000 : 0 }))
            return
          case "presence":
            setPresence((s) => ({ ...s, [f["user_id"]]: f["status"] }))
            return
          case "read_receipt":
            if (f["user_id"] !== me && typeof f["seq"] === "number") setReadBy((r) => ({ ...r, [f["user_id"]]: Math.max(r[f["user_id"]] ?? 0, f["seq"]) }))
            return
        }
      }),
    [roomId, me, merge, loadLatest, seedReadBy, messages.size]
  )

  // Typing indicators lapse by themselves.
  useEffect(() => {
    const timer = setInterval(() => setTyping((t) => (Object.values(t).some((until) => until !== 0 && until < Date.now()) ? Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v < Date.now() ? 0 : v])) : t)), 1000)
    return () => clearInterval(timer)
  }, [])

  const sorted = useMemo(() => [...messages.values()].sort((a, b) => a.seq - b.seq), [messages])
  const last = sorted[sorted.length - 1]

  // Read receipts: the newest message from someone else, once seen.
  useEffect(() => {
    if (last === undefined || last.sender_id === me || lastReadSent.current === last.id || connection !== "online" || document.hidden) return
    lastReadSent.current = last.id
    realtime.send({ type: "read", room_id: roomId, message_id: last.id })
  }, [last, me, roomId, connection])

  // Messages written while offline go out (with the same client_id, so never twice) once online.
  useEffect(() => {
    if (connection !== "online") return
    for (const p of pending) void sendPending(p)
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [connection])

  useLayoutEffect(() => {
    const el = list.current
    if (el !== null && stickToBottom.current) el.scrollTop = el.scrollHeight
  }, [sorted, pending])

  const sendPending = async (p: Pending) => {
    try {
      await realtime.request({ type: "send", room_id: roomId, client_id: p.client_id, content: p.content })
    } catch (e) {
      if (realtime.state === "online") setPending((all) => all.map((x) => (x.client_id === p.client_id ? { ...x, failed: true } : x)))
      if (e instanceof Error && realtime.state === "online") setError(e.message)
    }
  }

  const submit = (e: FormEvent) => {
    e.preventDefault()
    const content = draft.trim()
    if (content === "") return
    const p: Pending = { client_id: crypto.randomUUID(), content, failed: false }
    setPending((all) => [...all, p])
    setDraft("")
    stickToBottom.current = true
    realtime.send({ type: "typing", room_id: roomId, state: "stop" })
    lastTypingSent.current = 0
    if (connection === "online") void sendPending(p)
  }

  const senders = useUsernames([...sorted.map((m) => m.sender_id), ...Object.keys(typing), ...Object.keys(presence)])
  const typers = Object.entries(typing).filter(([, until]) => until > Date.now()).map(([u]) => senders[u] ?? "someone")
  const r = room.state.status === "ok" ? room.state.value : null
  const others = Object.keys(presence).filter((u) => u !== me)
  const myLastSeen = [...sorted].reverse().find((m) => m.sender_id === me)
  const seen = myLastSeen !== undefined && Object.entries(readBy).some(([u, seq]) => u !== me && seq >= myLastSeen.seq)

  return (
    <section className="room" aria-label="Conversation">
      <header className="room-head">
        <h2>{r === null ? "…" : r.type === "dm" ? `@${senders[others[0] ?? ""] ?? "…"}` : `# ${r.name ?? "room"}`}</h2>
        <ul className="presence" aria-label="Who is here">
          {others.slice(0, 8).map((u) => (
            <li key={u} className={presence[u]}>
              <span className="dot" aria-hidden="true" /> {senders[u] ?? "…"} <span className="sr-only">{presence[u]}</span>
            </li>
          ))}
        </ul>
      </header>
      {room.state.status === "error" && <ErrorBox error={room.state.error} retry={room.reload} />}
      {error !== null && <ErrorBox error={error} retry={() => void loadLatest()} />}
      <ol
        className="messages"
        ref={list}
        aria-live="polite"
        data-testid="messages"
        onScroll={(e) => {
          const el = e.currentTarget
          stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40
          if (el.scrollTop === 0 && hasMore && !action.busy) void loadEarlier()
        }}
      >
        {hasMore && (
          <li className="center">
            <button type="button" className="small" onClick={loadEarlier} disabled={action.busy}>
              Load earlier messages
            </button>
          </li>
        )}
        {loading && sorted.length === 0 && (
          <li>
            <Loading label="Loading messages…" />
          </li>
        )}
        {!loading && sorted.length === 0 && pending.length === 0 && <li className="muted center">No messages yet. Say hello!</li>}
        {sorted.map((m) => {
          const mine = m.sender_id === me
          const reacts = Object.entries(reactions[m.id] ?? {}).filter(([, users]) => users.length > 0)
          return (
            <li key={m.id} className={mine ? "mine" : ""} data-testid="message" data-seq={m.seq}>
              <div className="meta muted small">
                {mine ? "You" : (senders[m.sender_id] ?? "…")} · {new Date(m.created_at).toLocaleTimeString()}
                {m.edited_at !== null && " · edited"}
              </div>
              {editing?.id === m.id ? (
                <form
                  className="row"
                  onSubmit={async (e) => {
                    e.preventDefault()
                    const ok = await action.run(() => realtime.request({ type: "edit", message_id: m.id, content: editing.content }))
                    if (ok !== undefined) setEditing(null)
                  }}
                >
                  <input aria-label="Edit message" value={editing.content} autoFocus onChange={(e) => setEditing({ id: m.id, content: e.target.value })} />
                  <button type="submit" className="small">
                    Save
                  </button>
                  <button type="button" className="small" onClick={() => setEditing(null)}>
                    Cancel
                  </button>
                </form>
              ) : (
                <p className="bubble">{m.content}</p>
              )}
              <div className="message-actions">
                {reacts.map(([emoji, users]) => (
                  <button
                    key={emoji}
                    type="button"
                    className={`reaction ${users.includes(me) ? "on" : ""}`}
                    aria-pressed={users.includes(me)}
                    aria-label={`${emoji} ${users.length}`}
                    onClick={() => realtime.send({ type: users.includes(me) ? "unreact" : "react", message_id: m.id, emoji })}
                  >
                    {emoji} {users.length}
                  </button>
                ))}
                <span className="hover-actions">
                  {REACTIONS.filter((e) => !reacts.some(([x]) => x === e)).map((emoji) => (
                    <button key={emoji} type="button" className="reaction" aria-label={`React ${emoji}`} onClick={() => realtime.send({ type: "react", message_id: m.id, emoji })}>
                      {emoji}
                    </button>
                  ))}
                  {mine && (
                    <>
                      <button type="button" className="small link" onClick={() => setEditing({ id: m.id, content: m.content })}>
                        Edit
                      </button>
                      <button
                        type="button"
                        className="small link"
                        onClick={() => {
                          if (confirm("Delete this message?")) void action.run(() => realtime.request({ type: "delete", message_id: m.id }))
                        }}
                      >
                        Delete
                      </button>
                    </>
                  )}
                </span>
              </div>
              {mine && m.id === myLastSeen?.id && seen && <div className="muted small seen">Seen</div>}
            </li>
          )
        })}
        {pending.map((p) => (
          <li key={p.client_id} className="mine pending" data-testid="pending-message">
            <p className="bubble">{p.content}</p>
            <div className="muted small">
              {p.failed ? (
                <>
                  Not sent.{" "}
                  <button type="button" className="link small" onClick={() => void sendPending(p)}>
                    Retry
                  </button>
                </>
              ) : connection === "online" ? (
                "Sending…"
              ) : (
                "Waiting for the connection…"
              )}
            </div>
          </li>
        ))}
      </ol>
      <p className="typing muted small" aria-live="polite" data-testid="typing">
        {typers.length > 0 ? `${typers.join(", ")} ${typers.length === 1 ? "is" : "are"} typing…` : " "}
      </p>
      {action.error !== null && <p className="error small" role="alert">{action.error}</p>}
      <form className="composer row" onSubmit={submit}>
        <input
          aria-label="Message"
          placeholder="Write a message"
          value={draft}
          maxLength={4000}
          data-testid="composer"
          onChange={(e) => {
            setDraft(e.target.value)
            if (Date.now() - lastTypingSent.current > 3000 && e.target.value !== "") {
              lastTypingSent.current = Date.now()
              realtime.send({ type: "typing", room_id: roomId, state: "start" })
            }
          }}
        />
        <button type="submit" className="primary">
          Send
        </button>
      </form>
    </section>
  )
}

const RoomList = ({ current, reloadKey }: { current: string | undefined; reloadKey: number }) => {
  const { session } = useApp()
  const rooms = useAsync(() => call((c) => c.chat.listRooms({ urlParams: { mine: "true", limit: 100 } })), [reloadKey])
  const publicRooms = useAsync(() => call((c) => c.chat.listRooms({ urlParams: { limit: 50 } })), [reloadKey])
  const navigate = useNavigate()
  const [name, setName] = useState("")
  const [type, setType] = useState<"public" | "private">("public")
  const create = useAction()
  const dmPartners = useAsync(
    async () => {
      if (rooms.state.status !== "ok") return {}
      const dms = rooms.state.value.items.filter((r) => r.type === "dm")
      const pairs = await Promise.all(
        dms.map(async (r) => {
          const members = await call((c) => c.chat.members({ path: { id: r.id } }))
          const other = members.items.find((m) => m.user_id !== session?.userId)
          return [r.id, other === undefined ? "…" : await usernameOf(other.user_id)] as const
        })
      )
      return Object.fromEntries(pairs)
    },
    [rooms.state]
  )
  const names = dmPartners.state.status === "ok" ? dmPartners.state.value : {}
  const [dmName, setDmName] = useState("")
  const lookup = useAction()
  const message = async (e: FormEvent) => {
    e.preventDefault()
    const user = await lookup.run(() => call((c) => c.users.byUsername({ path: { username: dmName.trim().replace(/^@/, "") } })))
    if (user === undefined) return
    setDmName("")
    navigate(`/chat?dm=${user.id}`)
  }
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const room = await create.run(() => call((c) => c.chat.createRoom({ payload: { name, type } })))
    if (room === undefined) return
    setName("")
    rooms.reload()
    navigate(`/chat/${room.id}`)
  }
  return (
    <nav className="room-list" aria-label="Conversations">
      <h2 className="small-title">Your conversations</h2>
      <Show state={rooms.state} retry={rooms.reload}>
        {(page) =>
          page.items.length === 0 ? (
            <p className="muted small">None yet: message someone from their profile, or join a room.</p>
          ) : (
            <ul className="plain">
              {page.items.map((r) => (
                <li key={r.id}>
                  <Link to={`/chat/${r.id}`} aria-current={r.id === current ? "page" : undefined} data-testid="room-link">
                    {r.type === "dm" ? `@${names[r.id] ?? "…"}` : `# ${r.name ?? "room"}`}
                  </Link>
                </li>
              ))}
            </ul>
          )
        }
      </Show>
      <h2 className="small-title">Public rooms</h2>
      <Show state={publicRooms.state} retry={publicRooms.reload}>
        {(page) => (
          <ul className="plain">
            {page.items
              .filter((r) => r.my_role === null)
              .map((r) => (
                <li key={r.id}>
                  <Link to={`/chat/${r.id}`}># {r.name}</Link> <span className="muted small">{r.member_count}</span>
                </li>
              ))}
          </ul>
        )}
      </Show>
      <form onSubmit={message} className="stack small-form">
        <label>
          Message someone
          <input value={dmName} required placeholder="username" onChange={(e) => setDmName(e.target.value)} />
        </label>
        <button type="submit" disabled={lookup.busy}>
          Open conversation
        </button>
        {lookup.error !== null && <p className="error small" role="alert">{lookup.error}</p>}
      </form>
      <form onSubmit={submit} className="stack small-form">
        <label>
          New room
          <input value={name} required maxLength={100} onChange={(e) => setName(e.target.value)} />
        </label>
        <select aria-label="Room type" value={type} onChange={(e) => setType(e.target.value as typeof type)}>
          <option value="public">Public</option>
          <option value="private">Private</option>
        </select>
        <button type="submit" disabled={create.busy}>
          Create room
        </button>
        {create.error !== null && <p className="error small" role="alert">{create.error}</p>}
      </form>
    </nav>
  )
}

const Chat = () => {
  useTitle("Chat")
  const { roomId } = useParams()
  const [params] = useSearchParams()
  const { session, connection } = useApp()
  const navigate = useNavigate()
  const [reloadKey, setReloadKey] = useState(0)
  const dm = params.get("dm")
  const [dmError, setDmError] = useState<string | null>(null)

  // ?dm=<user id> (the profile's "Message" button) opens or finds the DM, then shows it.
  useEffect(() => {
    if (dm === null || connection !== "online") return
    realtime.request({ type: "dm_open", user_id: dm }).then(
      (joined) => {
        setReloadKey((k) => k + 1)
        navigate(`/chat/${String(joined["room_id"])}`, { replace: true })
      },
      (e: unknown) => setDmError(e instanceof Error ? e.message : String(e))
    )
  }, [dm, connection, navigate])

  // A conversation someone else started shows up in the list at once.
  useEffect(
    () =>
      realtime.subscribe((frame) => {
        if (frame.type === "joined" && frame.ref === undefined) setReloadKey((k) => k + 1)
      }),
    []
  )

  return (
    <div className="chat">
      <ConnectionLine />
      {dmError !== null && <ErrorBox error={dmError} />}
      <div className="chat-grid">
        <RoomList current={roomId} reloadKey={reloadKey} />
        {roomId !== undefined ? <Room key={roomId} roomId={roomId} me={session!.userId} /> : <p className="muted">Choose a conversation.</p>}
      </div>
    </div>
  )
}

export const ChatPage = () => (
  <RequireSignIn what="chat">
    <Chat />
  </RequireSignIn>
)
