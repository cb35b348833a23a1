import { type FormEvent, useState } from "react"
import { useNavigate } from "react-router"
import { call, id, setSession, signOut } from "../api.js"
import { useApp } from "../session.js"
import { Show, useAction, useAsync, useTitle } from "../ui.js"
import { RequireSignIn } from "./auth.js"
import type { UserId } from "../../../src/users/schema.js"

const Settings = () => {
  useTitle("Settings")
  const navigate = useNavigate()
  const { session } = useApp()
  const me = useAsync(() => call((c) => c.auth.me()), [])
  const [displayName, setDisplayName] = useState<string | null>(null)
  const [bio, setBio] = useState<string | null>(null)
  const save = useAction()
  const sessions = useAction()
  const [saved, setSaved] = useState(false)

  const submit = async (e: FormEvent, current: { display_name: string | null; bio: string | null }) => {
    e.preventDefault()
    setSaved(false)
    const profile = { display_name: displayName ?? current.display_name, bio: bio ?? current.bio }
    const done = await save.run(() => call((c) => c.users.update({ path: { id: id<UserId>(session!.userId) }, payload: profile })))
    if (done !== undefined) {
      setSaved(true)
      me.reload()
    }
  }

  return (
    <section className="narrow">
      <h1>Settings</h1>
      <Show state={me.state} retry={me.reload}>
        {(user) => (
          <form onSubmit={(e) => submit(e, user)} className="stack">
            <h2>Profile</h2>
            <p className="muted">
              Signed in as {user.email} (@{user.username}, {user.role})
            </p>
            <label>
              Display name
              <input value={displayName ?? user.display_name ?? ""} maxLength={100} onChange={(e) => setDisplayName(e.target.value)} />
            </label>
            <label>
              Bio
              <textarea value={bio ?? user.bio ?? ""} maxLength={4000} rows={4} onChange={(e) => setBio(e.target.value)} />
            </label>
            {save.error !== null && <p className="error" role="alert">{save.error}</p>}
            {saved && <p role="status">Saved.</p>}
            <button type="submit" className="primary" disabled={save.busy}>
              Save profile
            </button>
          </form>
        )}
      </Show>
      <h2>Sessions</h2>
      <div className="row">
        <button
          type="button"
          onClick={async () => {
            await signOut()
            navigate("/")
          }}
        >
          Sign out
        </button>
        <button
          type="button"
          className="danger"
          disabled={sessions.busy}
          onClick={async () => {
            const done = await sessions.run(() => call((c) => c.auth.logoutAll()).then(() => true))
            if (done === undefined) return
            setSession(null)
            navigate("/signin")
          }}
        >
          Sign out everywhere
        </button>
      </div>
      <p className="muted small">“Sign out everywhere” ends every session of this account, on every device.</p>
      {sessions.error !== null && <p className="error" role="alert">{sessions.error}</p>}
    </section>
  )
}

export const SettingsPage = () => (
  <RequireSignIn what="change your settings">
    <Settings />
  </RequireSignIn>
)
