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

export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly next_cursor: string | null
}

/** A list with nothing in it, for a list that cannot be asked for yet. */
export const EMPTY_PAGE = { items: [], next_cursor: null } as const

/**
 * A cursor-paged list: the first page on mount and when deps change, the next
 * one appended by `more`. `load` gets the page's place as URL parameters to
 * spread into its request (none for the first page, `{cursor}` after). A page
 * that comes back after the list was reloaded (its cursor no longer the
 * list's) is dropped, so pages never mix.
 */
export const usePaged = <A, P extends Page<A> = Page<A>>(load: (at: { readonly cursor?: string }) => Promise<P>, deps: DependencyList) => {
  const first = useAsync(() => load({}), deps)
  const next = useAction()
  const { state, set } = first
  const loadRef = useRef(load)
  loadRef.current = load
  const cursor = state.status === "ok" ? state.value.next_cursor : null
  const { run } = next
  const more = useCallback(() => {
    if (cursor === null) return
    void run(async () => {
      const page = await loadRef.current({ cursor })
      set((p) => (p.next_cursor === cursor ? { ...p, items: [...p.items, ...page.items], next_cursor: page.next_cursor } : p))
    })
  }, [cursor, run, set])
  return { ...first, more, loadingMore: next.busy, moreError: next.error }
}

/** "Load more" under a paged list, while there is more; a failure says so beside a retry. */
export const MoreButton = ({
  paged,
  label = "Load more"
}: {
  paged: { readonly state: Async<Page<unknown>>; readonly more: () => void; readonly loadingMore: boolean; readonly moreError: string | null }
  label?: string
}) =>
  paged.state.status !== "ok" || paged.state.value.next_cursor === null ? null : (
    <div className="more">
      <button type="button" onClick={paged.more} disabled={paged.loadingMore}>
        {paged.loadingMore ? "Loading…" : label}
      </button>
      {paged.moreError !== null && (
        <p className="error" role="alert">
          Could not load more: {paged.moreError}. Try again.
        </p>
      )}
    </div>
  )

/** "Delete …", then "Delete for good" / "Keep it": a second click instead of a browser dialog. The failure is shown below. */
export const ConfirmDelete = ({ what, onDelete }: { what: string; onDelete: () => Promise<unknown> }) => {
  const [asking, setAsking] = useState(false)
  const action = useAction()
  return (
    <>
      {asking ? (
        <>
          <button type="button" className="danger" onClick={() => void action.run(onDelete)} disabled={action.busy}>
            Delete for good
          </button>
          <button type="button" onClick={() => setAsking(false)}>
            Keep it
          </button>
        </>
      ) : (
        <button type="button" onClick={() => setAsking(true)}>
          Delete {what}…
        </button>
      )}
      {action.error !== null && (
        <p className="error" role="alert">
          Could not delete it: {action.error}
        </p>
      )}
    </>
  )
}
