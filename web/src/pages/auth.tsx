import { type FormEvent, type ReactNode, useState } from "react"
import { Link, useLocation, useNavigate } from "react-router"
import { call, startSession } from "../api.js"
import { useApp } from "../session.js"
import { useAction, useTitle } from "../ui.js"

/** Pages for signed-in users show this instead when nobody is. */
export const RequireSignIn = ({ children, what }: { children: ReactNode; what: string }) => {
  const { session } = useApp()
  const location = useLocation()
  if (session !== null) return <>{children}</>
  return (
    <section>
      <h1>Sign in needed</h1>
      <p>
        <Link to={`/signin?next=${encodeURIComponent(location.pathname + location.search)}`}>Sign in</Link> or{" "}
        <Link to="/signup">create an account</Link> to {what}.
      </p>
    </section>
  )
}

export const AuthPage = ({ mode }: { mode: "signin" | "signup" }) => {
  useTitle(mode === "signin" ? "Sign in" : "Sign up")
  const navigate = useNavigate()
  const next = new URLSearchParams(useLocation().search).get("next") ?? "/"
  const [email, setEmail] = useState("")
  const [username, setUsername] = useState("")
  const [password, setPassword] = useState("")
  const [creator, setCreator] = useState(false)
  const action = useAction()

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const session = await action.run(() =>
      mode === "signin"
        ? call((c) => c.auth.login({ payload: { email, password } }))
        : call((c) => c.auth.register({ payload: { email, username, password, account_type: creator ? "creator" : "listener" } }))
    )
    if (session === undefined) return
    startSession(session)
    navigate(next.startsWith("/") ? next : "/")
  }

  return (
    <section className="narrow">
      <h1>{mode === "signin" ? "Sign in" : "Create your account"}</h1>
      <form onSubmit={submit} className="stack">
        <label>
          Email
          <input type="email" name="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        {mode === "signup" && (
          <label>
            Username
            <input
              name="username"
              autoComplete="username"
              required
              pattern="[A-Za-z0-9_]{3,30}"
              title="3–30 letters, digits or underscores"
              value={username}
              onChange={(e) => setUsername(e.target.value)}
            />
          </label>
        )}
        <label>
          Password
          <input
            type="password"
            name="password"
            autoComplete={mode === "signin" ? "current-password" : "new-password"}
            required
            minLength={mode === "signup" ? 8 : undefined}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {mode === "signup" && (
          <label className="inline">
            <input type="checkbox" name="creator" checked={creator} onChange={(e) => setCreator(e.target.checked)} /> I make music (creator account: upload
            tracks, sell on the market)
          </label>
        )}
        {action.error !== null && (
          <p className="error" role="alert">
            {action.error}
          </p>
        )}
        <button type="submit" className="primary" disabled={action.busy}>
          {action.busy ? "…" : mode === "signin" ? "Sign in" : "Sign up"}
        </button>
      </form>
      <p className="muted">
        {mode === "signin" ? (
          <>
            New here? <Link to="/signup">Create an account</Link> · <Link to="/reset-password">Forgot your password?</Link>
          </>
        ) : (
          <>
            Already have an account? <Link to="/signin">Sign in</Link>
          </>
        )}
      </p>
    </section>
  )
}
