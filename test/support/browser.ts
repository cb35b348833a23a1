import * as NodeFs from "node:fs"
import { createRequire } from "node:module"
import { type Browser, chromium, type Page } from "playwright-core"

/**
 * Debian's Chromium (`apt-get install chromium`; `.ci/run` installs it when
 * missing). playwright-core brings no browser of its own, and none can be
 * downloaded here. CHROMIUM_PATH points elsewhere when needed.
 */
export const CHROMIUM_PATH = process.env["CHROMIUM_PATH"] || "/usr/bin/chromium"

export const CHROMIUM_ARGS: ReadonlyArray<string> = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
  "--autoplay-policy=no-user-gesture-required"
]

export const launchChromium = (): Promise<Browser> => {
  if (!NodeFs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: apt-get install -y chromium (or set CHROMIUM_PATH)`)
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS], timeout: 30_000 })
}

/** hls.js's browser build, served to pages by the tests. */
export const hlsJsPath = (): string => createRequire(import.meta.url).resolve("hls.js/dist/hls.min.js")

export interface PageProblems {
  /** console.error messages and uncaught exceptions. */
  readonly errors: Array<string>
  /** Responses with a status of 400 or more, as `status url`. */
  readonly httpErrors: Array<string>
  /** Requests that failed below HTTP, other than ones the page aborted itself. */
  readonly failedRequests: Array<string>
  /** Every response the page received, as `status url` (for assertions on what it asked for). */
  readonly responses: Array<{ readonly url: string; readonly status: number }>
}

/** Starts recording what went wrong on a page; read the returned arrays at any time. */
export const watchPage = (page: Page): PageProblems => {
  const problems: PageProblems = { errors: [], httpErrors: [], failedRequests: [], responses: [] }
  page.on("console", (message) => {
    if (message.type() === "error") problems.errors.push(`console.error: ${message.text()}`)
  })
  page.on("pageerror", (error) => problems.errors.push(`uncaught: ${error.stack ?? error.message}`))
  page.on("response", (response) => {
    problems.responses.push({ url: response.url(), status: response.status() })
    if (response.status() >= 400) problems.httpErrors.push(`${response.status()} ${response.url()}`)
  })
  page.on("requestfailed", (request) => {
    const reason = request.failure()?.errorText ?? "unknown"
    // A player aborts its own loads when it switches level; that is not a failure.
    if (reason !== "net::ERR_ABORTED") problems.failedRequests.push(`${reason} ${request.url()}`)
  })
  return problems
}
