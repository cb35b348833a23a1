import * as NodeFs from "node:fs"
import { quotedEtag } from "../platform/storage.js"

export interface CachedFile {
  readonly body: Buffer
  /** The same tag the storage gives the file: size and mtime. */
  readonly etag: string
}

export type Loaded = CachedFile | "missing" | "too-large"

interface Entry extends CachedFile {
  readonly expires: number
}

const isMissing = (error: unknown) => {
  const code = (error as { readonly code?: unknown } | null)?.code
  return code === "ENOENT" || code === "ENOTDIR"
}

const load = async (path: string, maxFileBytes: number): Promise<Loaded> => {
  let handle: NodeFs.promises.FileHandle
  try {
    handle = await NodeFs.promises.open(path, "r")
  } catch (error) {
    if (isMissing(error)) return "missing"
    throw error
  }
  try {
    const stats = await handle.stat()
    if (!stats.isFile()) return "missing"
    if (stats.size > maxFileBytes) return "too-large"
    return { body: await handle.readFile(), etag: quotedEtag(stats.size, stats.mtimeMs) }
  } finally {
    await handle.close()
  }
}

/**
 * Whole local files in memory, for files that never change once written
 * (everything under an HLS attempt's prefix), least recently used out first
 * past `budgetBytes`. A hit costs no system call and allocates nothing: read
 * from disk, every segment request allocates two 64 KB read buffers, and
 * under load that external memory keeps V8 starting mark-compacts back to
 * back once transcodes have shaped the heap (docs/performance.md). Entries
 * are read again after `ttlMs`, so a deleted prefix stops being served soon
 * after its files go.
 */
export const makeFileCache = (options: { readonly budgetBytes: number; readonly maxFileBytes: number; readonly ttlMs: number }) => {
  const entries = new Map<string, Entry>()
  const loading = new Map<string, Promise<Loaded>>()
  let bytes = 0

  const remove = (path: string, entry: Entry) => {
    entries.delete(path)
    bytes -= entry.body.length
  }

  const store = (path: string, file: CachedFile) => {
    const previous = entries.get(path)
    if (previous !== undefined) remove(path, previous)
    // Insertion order is recency order: the first entries are the least recently used.
    for (const [oldest, entry] of entries) {
      if (bytes + file.body.length <= options.budgetBytes) break
      remove(oldest, entry)
    }
    entries.set(path, { ...file, expires: Date.now() + options.ttlMs })
    bytes += file.body.length
  }

  return {
    /** The file, when cached and fresh. */
    lookup: (path: string, now: number): CachedFile | undefined => {
      const entry = entries.get(path)
      if (entry === undefined) return undefined
      if (entry.expires <= now) {
        remove(path, entry)
        return undefined
      }
      entries.delete(path)
      entries.set(path, entry)
      return entry
    },
    /** Reads the file (once, however many requests ask meanwhile) and keeps it when it fits. */
    fill: (path: string): Promise<Loaded> => {
      const pending = loading.get(path)
      if (pending !== undefined) return pending
      const loaded = load(path, options.maxFileBytes)
        .then((result) => {
          if (typeof result === "object" && result.body.length <= options.budgetBytes) store(path, result)
          return result
        })
        .finally(() => loading.delete(path))
      loading.set(path, loaded)
      return loaded
    }
  }
}
