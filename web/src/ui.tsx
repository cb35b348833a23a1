import { type DependencyList, type ReactNode, useCallback, useEffect, useRef, useState } from "react"
import { toApiError } from "./api.js"

export const formatTime = (seconds: number) => {
  if (!Number.isFinite(seconds) || seconds < 0) return "0:00"
  const s = Math.floor(seconds)
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`
}

export const formatMoney = (cents: number, currency: string) =>
  new Intl.NumberFormat(undefined, { style: "currency", currency }).format(cents / 100)

export const formatDate = (d: Date | string) => new Date(d).toLocaleString()

export type Async<A> =
  | { readonly status: "loading" }
  | { readonly status: "error"; readonly error: string }
  | { readonly status: "ok"; readonly value: A }

/** Loads on mount and when deps change; `reload` retries; stale answers are dropped. */
export const useAsync = <A,>(load: () => Promise<A>, deps: DependencyList) => {
  const [state, setState] = useState<Async<A>>({ status: "loading" })
  const generation = useRef(0)
  const run = useCallback(() => {
    const mine = ++generation.current
    setState((s) => (s.status === "ok" ? s : { status: "loading" }))
    load().then(
      (value) => mine === generation.current && setState({ status: "ok", value }),
      (e: unknown) => mine === generation.current && setState({ status: "error", error: toApiError(e).message })
    )
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps)
  useEffect(() => {
    setState({ status: "loading" })
    run()
  }, [run])
  const set = useCallback((f: (a: A) => A) => setState((s) => (s.status === "ok" ? { status: "ok", value: f(s.value) } : s)), [])
  return { state, reload: run, set }
}

export const Loading = ({ label = "Loading…" }: { label?: string }) => (
  <p className="loading" role="status" aria-live="polite">
    <span className="spinner" aria-hidden="true" /> {label}
  </p>
)

export const ErrorBox = ({ error, retry }: { error: string; retry?: () => void }) => (
  <div className="error-box" role="alert">
    <p>{error}</p>
    {retry !== undefined && (
      <button type="button" onClick={retry}>
        Retry
      </button>
    )}
  </div>
)

/** Renders the loaded value, or the loading / error state with a retry button. */
export const Show = <A,>({ state, retry, children }: { state: Async<A>; retry: () => void; children: (a: A) => ReactNode }) =>
  state.status === "loading" ? <Loading /> : state.status === "error" ? <ErrorBox error={state.error} retry={retry} /> : <>{children(state.value)}</>

/** A button running an async action: disabled while it runs, the failure shown beside it. */
export const useAction = () => {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const run = useCallback(async <A,>(action: () => Promise<A>): Promise<A | undefined> => {
    setBusy(true)
    setError(null)
    try {
      return await action()
    } catch (e) {
      setError(toApiError(e).message)
      return undefined
    } finally {
      setBusy(false)
    }
  }, [])
  return { busy, error, run, setError }
}

export const useTitle = (title: string) => {
  useEffect(() => {
    document.title = title === "" ? "Veza" : `${title} · Veza`
  }, [title])
}
