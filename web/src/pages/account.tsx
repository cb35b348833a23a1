import { type FormEvent, useEffect, useRef, useState } from "react"
import { Link, useSearchParams } from "react-router"
import { call } from "../api.js"
import { ErrorBox, Loading, useAction, useTitle } from "../ui.js"

/** `/verify-email?token=…`: the link in the verification mail (PUBLIC_URL). */
export const VerifyEmailPage = () => {
  useTitle("Verify your email")
  const token = useSearchParams()[0].get("token") ?? ""
  const [state, setState] = useState<"working" | "done" | string>("working")
  const sent = useRef(false)
  const verify = () => {
    setState("working")
    call((c) => c.auth.verifyEmail({ payload: { token } })).then(
      () => setState("done"),
      (e: unknown) => setState(e instanceof Error ? e.message : String(e))
    )
  }
  useEffect(() => {
    if (sent.current) return
    sent.current = true
    verify()
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [])
  return (
    <section className="narrow">
      <h1>Verify your email</h1>
      {state === "working" ? (
        <Loading label="Checking the link…" />
      ) : state === "done" ? (
        <p role="status">
          Your address is verified. <Link to="/">Go home</Link>.
        </p>
      ) : (
        <ErrorBox error={`${state} The link may have expired: sign in and ask for a new one in Settings.`} retry={verify} />
      )}
    </section>
  )
}

/** `/reset-password` asks for a link; `/reset-password?token=…` (the mail's link) sets the new password. */
export const ResetPasswordPage = () => {
  useTitle("Reset your password")
  const token = useSearchParams()[0].get("token")
  const [email, setEmail] = useState("")
  const [password, setPassword] = useState("")
  const [done, setDone] = useState(false)
  const action = useAction()
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const ok = await action.run(() =>
      (token === null ? call((c) => c.auth.requestPasswordReset({ payload: { email } })) : call((c) => c.auth.resetPassword({ payload: { token, password } }))).then(() => true)
    )
    if (ok) setDone(true)
  }
  return (
    <section className="narrow">
      <h1>Reset your password</h1>
      {done ? (
        <p role="status">
          {token === null ? "If an account uses that address, a reset link is on its way." : "Your password is changed; other sessions were signed out."}{" "}
          <Link to="/signin">Sign in</Link>
        </p>
      ) : (
        <form onSubmit={submit} className="stack">
          {token === null ? (
            <label>
              Email
              <input type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
            </label>
          ) : (
            <label>
              New password
              <input type="password" autoComplete="new-password" required minLength={8} value={password} onChange={(e) => setPassword(e.target.value)} />
            </label>
          )}
          {action.error !== null && <p className="error" role="alert">{action.error}</p>}
          <button type="submit" className="primary" disabled={action.busy}>
            {token === null ? "Send the link" : "Set the password"}
          </button>
        </form>
      )}
    </section>
  )
}
