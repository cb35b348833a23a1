import { createContext, type ReactNode, useContext, useEffect, useState } from "react"
import { call, currentSession, onSessionChange, type Session } from "./api.js"
import { type ConnectionState, realtime } from "./realtime.js"

interface AppState {
  readonly session: Session | null
  readonly connection: ConnectionState
  readonly unread: number
  readonly setUnread: (f: (n: number) => number) => void
}

const AppContext = createContext<AppState | null>(null)

export const useApp = () => {
  const app = useContext(AppContext)
  if (app === null) throw new Error("useApp outside AppProvider")
  return app
}

/** The signed-in user, the live connection and the unread-notification badge. */
export const AppProvider = ({ children }: { children: ReactNode }) => {
  const [session, setSession] = useState(currentSession)
  const [connection, setConnection] = useState<ConnectionState>(realtime.state)
  const [unread, setUnreadState] = useState(0)

  useEffect(() => onSessionChange(setSession), [])
  useEffect(() => realtime.onState(setConnection), [])

  const userId = session?.userId
  useEffect(() => {
    if (userId === undefined) {
      realtime.stop()
      setUnreadState(0)
      return
    }
    realtime.start()
    const refreshCount = () =>
      call((c) => c.social.notifications({ urlParams: { unread: "true", limit: 1 } }))
        .then((page) => setUnreadState(page.unread_count))
        .catch(() => {})
    const off = realtime.subscribe((frame) => {
      if (frame.type === "notification") setUnreadState((n) => n + 1)
      // Notifications pushed while the socket was down are not replayed; the inbox count is.
      if (frame.type === "ready") void refreshCount()
    })
    void refreshCount()
    return off
  }, [userId])

  return <AppContext.Provider value={{ session, connection, unread, setUnread: setUnreadState }}>{children}</AppContext.Provider>
}
