import * as NodeChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import { createRequire } from "node:module"
import * as NodePath from "node:path"

export const S3_BUCKET = "veza-test"

/**
 * s3rver in a child process of its own: its ListObjectsV2 continuation
 * tokens use DES, which Node 17+ (OpenSSL 3) only offers with the legacy
 * provider, so every truncated listing would otherwise answer 500.
 * `wantedPort` lets a stopped server come back where its clients expect it.
 */
export const startS3rver = async (directory: string, bucket = S3_BUCKET, wantedPort = 0) => {
  const bin = createRequire(import.meta.url).resolve("s3rver/bin/s3rver.js")
  const args = ["--openssl-legacy-provider", bin, "-d", directory, "-a", "127.0.0.1", "-p", String(wantedPort), "-s", "--configure-bucket", bucket]
  const child = NodeChildProcess.spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] })
  // A test file that ends without stopping it (a failed hook, a killed worker) must not leave it running.
  const killOnExit = () => child.kill("SIGKILL")
  process.once("exit", killOnExit)
  child.once("exit", () => process.off("exit", killOnExit))
  let output = ""
  const port = await new Promise<number>((resolve, reject) => {
    const collect = (chunk: Buffer) => {
      output += chunk.toString()
      const listening = /listening on [^:]+:(\d+)/.exec(output)
      if (listening !== null) resolve(Number(listening[1]))
    }
    child.stdout.on("data", collect)
    child.stderr.on("data", collect)
    child.once("exit", (code) => reject(new Error(`s3rver exited (${code}): ${output}`)))
  })
  const end = (signal: NodeJS.Signals) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once("exit", () => resolve())
      child.kill(signal)
    })
  // `kill` stops it at once, mid-request, like a crashed server.
  return { port, stop: () => end("SIGTERM"), kill: () => end("SIGKILL") }
}

/** The environment that points a Veza server at an s3rver (whose fixed account is S3RVER/S3RVER). */
export const s3Env = (port: number, bucket = S3_BUCKET): Record<string, string> => ({
  TRACK_STORAGE_BACKEND: "s3",
  S3_ENDPOINT: `http://127.0.0.1:${port}`,
  S3_BUCKET: bucket,
  S3_REGION: "us-east-1",
  S3_ACCESS_KEY_ID: "S3RVER",
  S3_SECRET_ACCESS_KEY: "S3RVER",
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true"
})

/**
 * What an s3rver killed mid-PUT leaves that S3 never does: it writes an
 * object's body, then its checksum, then its metadata file, each in place, so
 * a kill can leave a body without metadata or a metadata file cut short
 * (which every later listing of that prefix answers with 500). S3's PUT is
 * atomic: an interrupted one stores nothing. This removes such objects from
 * `directory`, as S3 would never have had them; call it between a kill and
 * the restart. Answers the keys' files it removed.
 */
export const discardTornWrites = (directory: string) => {
  const removed: Array<string> = []
  for (const entry of NodeFs.readdirSync(directory, { recursive: true })) {
    const file = NodePath.join(directory, String(entry))
    if (!file.endsWith("._S3rver_object")) continue
    const metadata = file.replace(/\._S3rver_object$/, "._S3rver_metadata.json")
    let whole = false
    try {
      JSON.parse(NodeFs.readFileSync(metadata, "utf8"))
      whole = NodeFs.existsSync(`${file}.md5`)
    } catch {
      whole = false
    }
    if (whole) continue
    for (const part of [file, `${file}.md5`, metadata]) NodeFs.rmSync(part, { force: true })
    removed.push(String(entry))
  }
  return removed
}
