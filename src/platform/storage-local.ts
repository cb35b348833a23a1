import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import type { Readable } from "node:stream"
import * as NodeStreamPromises from "node:stream/promises"
import { Effect, Exit, Option } from "effect"
import {
  abortable,
  type ByteRange,
  describeError,
  type LocalSettings,
  type ObjectBody,
  type ObjectInfo,
  quotedEtag,
  RangeNotSatisfiable,
  removeQuietly,
  type StorageBackend,
  StorageError
} from "./storage.js"

const errorCode = (error: unknown) => (error as { readonly code?: unknown } | null)?.code

/** The key names nothing (or a directory, which is no object either). */
const isMissing = (error: unknown) => {
  const code = errorCode(error)
  return code === "ENOENT" || code === "ENOTDIR"
}

const failure = (operation: string, key: string, error: unknown) =>
  new StorageError({ operation, key, message: describeError(error) })

const infoOf = (key: string, stats: NodeFs.Stats): ObjectInfo => ({
  key,
  size: stats.size,
  etag: quotedEtag(stats.size, stats.mtimeMs),
  lastModified: stats.mtime
})

/** Dot-names are temp files of writes in progress (keys cannot contain them). */
const isObjectName = (name: string) => !name.startsWith(".")

/**
 * Objects are files under the root, one per key. A write goes to a temp file
 * in the key's own folder and is renamed over the key, so readers see the old
 * bytes or the new ones, never part of them.
 */
export const makeLocalBackend = (settings: LocalSettings): StorageBackend => {
  const root = settings.root
  // Keys are validated (relative, no empty or dot segments), so plain concatenation stays inside the root.
  const pathOf = (key: string) => `${root}/${key}`

  /**
   * The hot path of HLS serving: open, fstat the descriptor, stream from it.
   * Reading through the descriptor keeps size, etag and bytes consistent
   * even when a put renames a new file over the key meanwhile.
   */
  const get = (key: string, range: ByteRange | undefined) =>
    Effect.async<Option.Option<ObjectBody>, StorageError | RangeNotSatisfiable>((resume) => {
      let interrupted = false
      const path = pathOf(key)
      NodeFs.open(path, "r", (openError, fd) => {
        if (openError !== null) {
          return resume(isMissing(openError) ? Effect.succeedNone : Effect.fail(failure("get", key, openError)))
        }
        NodeFs.fstat(fd, (statError, stats) => {
          if (interrupted || statError !== null || !stats.isFile()) {
            NodeFs.close(fd, () => {})
            if (statError !== null) return resume(Effect.fail(failure("get", key, statError)))
            return resume(Effect.succeedNone)
          }
          const size = stats.size
          const etag = quotedEtag(size, stats.mtimeMs)
          if (range === undefined) {
            const stream = NodeFs.createReadStream(path, { fd })
            return resume(Effect.succeed(Option.some({ key, size, etag, lastModified: stats.mtime, stream })))
          }
          if (range.start >= size) {
            NodeFs.close(fd, () => {})
            return resume(Effect.fail(new RangeNotSatisfiable({ key, size })))
          }
          const served = { start: range.start, end: Math.min(range.end ?? size - 1, size - 1) }
          const stream = NodeFs.createReadStream(path, { fd, start: served.start, end: served.end })
          resume(Effect.succeed(Option.some({ key, size, etag, lastModified: stats.mtime, stream, range: served })))
        })
      })
      return Effect.sync(() => {
        interrupted = true
      })
    })

  const head = (key: string) =>
    Effect.tryPromise({ try: () => NodeFs.promises.stat(pathOf(key)), catch: (error) => error }).pipe(
      Effect.map((stats) => (stats.isFile() ? Option.some(infoOf(key, stats)) : Option.none())),
      Effect.catchAll((error) => (isMissing(error) ? Effect.succeedNone : Effect.fail(failure("head", key, error))))
    )

  const put = (key: string, body: Readable | Uint8Array) => {
    const path = pathOf(key)
    const dir = NodePath.dirname(path)
    const temp = `${dir}/.${NodePath.basename(path)}.${NodeCrypto.randomBytes(6).toString("hex")}.tmp`
    return abortable((signal) => writeAtomically(dir, temp, path, body, signal)).pipe(
      Effect.map((stats) => infoOf(key, stats)),
      Effect.onExit((exit) => (Exit.isFailure(exit) ? removeQuietly(temp) : Effect.void)),
      Effect.mapError((error) => failure("put", key, error))
    )
  }

  /**
   * The file's bytes enter storage without passing through this process: a
   * hard link when the file is on the root's filesystem (the worker's and
   * the upload's temp folders are, under DATA_DIR), else a kernel-side copy.
   * Either way through a temp name renamed over the key, as for `put`.
   */
  const putFile = (key: string, localPath: string) => {
    const path = pathOf(key)
    const dir = NodePath.dirname(path)
    const temp = `${dir}/.${NodePath.basename(path)}.${NodeCrypto.randomBytes(6).toString("hex")}.tmp`
    return abortable(() => placeAtomically(dir, localPath, temp, path)).pipe(
      Effect.map((stats) => infoOf(key, stats)),
      Effect.onExit((exit) => (Exit.isFailure(exit) ? removeQuietly(temp) : Effect.void)),
      Effect.mapError((error) => failure("putFile", key, error))
    )
  }

  /** Folders stay only while they hold something; the root itself always stays. */
  const pruneEmptyFolders = async (from: string) => {
    for (let dir = from; dir.length > root.length && dir.startsWith(root + "/"); dir = NodePath.dirname(dir)) {
      try {
        await NodeFs.promises.rmdir(dir)
      } catch {
        return
      }
    }
  }

  const deleteOne = (key: string) =>
    abortable(async () => {
      const path = pathOf(key)
      try {
        await NodeFs.promises.unlink(path)
      } catch (error) {
        if (isMissing(error) || errorCode(error) === "EISDIR") return
        throw error
      }
      await pruneEmptyFolders(NodePath.dirname(path))
    }).pipe(Effect.mapError((error) => failure("delete", key, error)))

  /**
   * A prefix is a string prefix, as on S3: `hls/t1` matches `hls/t1/…` and
   * `hls/t10/…`. Its part after the last `/` selects entries of one folder.
   */
  const matching = async (prefix: string) => {
    const folderKey = prefix.slice(0, prefix.lastIndexOf("/") + 1)
    const namePrefix = prefix.slice(folderKey.length)
    const folder = folderKey.length === 0 ? root : pathOf(folderKey.slice(0, -1))
    const entries = (await readFolder(folder))
      .filter((e) => isObjectName(e.name) && e.name.startsWith(namePrefix))
      .map((e) => ({ key: folderKey + e.name, isDirectory: e.isDirectory(), isFile: e.isFile() }))
    return { folder, entries }
  }

  /** Keys of the objects at or below an entry. */
  const objectKeys = async (entry: { readonly key: string; readonly isDirectory: boolean; readonly isFile: boolean }): Promise<Array<string>> => {
    if (entry.isFile) return [entry.key]
    if (!entry.isDirectory) return []
    const children = (await readFolder(pathOf(entry.key))).filter((e) => isObjectName(e.name))
    const nested = await Promise.all(
      children.map((e) => objectKeys({ key: `${entry.key}/${e.name}`, isDirectory: e.isDirectory(), isFile: e.isFile() }))
    )
    return nested.flat()
  }

  const list = (prefix: string) =>
    abortable(async () => {
      const { entries } = await matching(prefix)
      const keys = (await Promise.all(entries.map(objectKeys))).flat().sort(byKey)
      const infos = await Promise.all(
        keys.map((key) =>
          NodeFs.promises.stat(pathOf(key)).then(
            (stats) => (stats.isFile() ? infoOf(key, stats) : undefined),
            // Deleted since the folder was read.
            (error) => (isMissing(error) ? undefined : Promise.reject(error))
          )
        )
      )
      return infos.filter((info) => info !== undefined)
    }).pipe(Effect.mapError((error) => failure("list", prefix, error)))

  const deletePrefix = (prefix: string) =>
    abortable(async () => {
      const { folder, entries } = await matching(prefix)
      let count = 0
      for (const entry of entries) {
        count += (await objectKeys(entry)).length
        await NodeFs.promises.rm(pathOf(entry.key), { recursive: true, force: true })
      }
      await pruneEmptyFolders(folder)
      return count
    }).pipe(Effect.mapError((error) => failure("deletePrefix", prefix, error)))

  const check = abortable(async () => {
    await NodeFs.promises.mkdir(root, { recursive: true })
    await NodeFs.promises.access(root, NodeFs.constants.W_OK)
  }).pipe(Effect.mapError((error) => failure("check", "", error)))

  return {
    backend: "local",
    put,
    putFile,
    get,
    head,
    list,
    delete: deleteOne,
    deletePrefix,
    localPath: (key) => Option.some(pathOf(key)),
    check
  }
}

const byKey = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

const readFolder = (path: string) =>
  NodeFs.promises.readdir(path, { withFileTypes: true }).catch((error: unknown) => (isMissing(error) ? [] : Promise.reject(error)))

/**
 * Creates the folder only when the write finds it missing: a transcode puts
 * ~50 files into each rendition's folder, and a `mkdir` before every one of
 * them was as many system calls again. A concurrent deletePrefix prunes
 * folders that look empty, possibly the one just created for this write;
 * creating it again is enough.
 */
const inFolder = async <A>(dir: string, create: () => Promise<A>) => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await create()
    } catch (error) {
      if (attempt >= 3 || errorCode(error) !== "ENOENT") throw error
    }
    await NodeFs.promises.mkdir(dir, { recursive: true })
  }
}

/** Another filesystem, or one without hard links. */
const cannotLink = (error: unknown) => ["EXDEV", "EPERM", "ENOTSUP", "EOPNOTSUPP", "EMLINK"].includes(String(errorCode(error)))

const placeAtomically = async (dir: string, source: string, temp: string, path: string) => {
  await inFolder(dir, () =>
    NodeFs.promises.link(source, temp).catch((error: unknown) =>
      cannotLink(error) ? NodeFs.promises.copyFile(source, temp, NodeFs.constants.COPYFILE_EXCL) : Promise.reject(error)
    )
  )
  const stats = await NodeFs.promises.stat(temp)
  await NodeFs.promises.rename(temp, path)
  return stats
}

const writeAtomically = async (dir: string, temp: string, path: string, body: Readable | Uint8Array, signal: AbortSignal) => {
  const handle = await inFolder(dir, () => NodeFs.promises.open(temp, "wx"))
  try {
    if (body instanceof Uint8Array) await handle.writeFile(body, { signal })
    // The stream closes the handle itself; the close below then only waits for that.
    else await NodeStreamPromises.pipeline(body, handle.createWriteStream(), { signal })
  } finally {
    await handle.close()
  }
  // Renaming keeps the mtime, so these are the stats of the object.
  const stats = await NodeFs.promises.stat(temp)
  await NodeFs.promises.rename(temp, path)
  return stats
}
