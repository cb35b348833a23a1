import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { makeFileCache } from "../../src/hls/file-cache.js"
import { quotedEtag } from "../../src/platform/storage.js"

const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-file-cache-"))
afterAll(() => NodeFs.rmSync(dir, { recursive: true, force: true }))

const write = (name: string, bytes: number) => {
  const path = NodePath.join(dir, name)
  NodeFs.writeFileSync(path, Buffer.alloc(bytes, name))
  return path
}

describe("HLS file cache", () => {
  it("reads a file once, with the storage's ETag, and answers from memory after", async () => {
    const cache = makeFileCache({ budgetBytes: 1000, maxFileBytes: 500, ttlMs: 60_000 })
    const path = write("a", 100)
    expect(cache.lookup(path, Date.now())).toBeUndefined()
    const [first, second] = await Promise.all([cache.fill(path), cache.fill(path)])
    expect(first).toBe(second)
    const stats = NodeFs.statSync(path)
    expect(first).toMatchObject({ etag: quotedEtag(stats.size, stats.mtimeMs) })
    NodeFs.rmSync(path)
    expect(cache.lookup(path, Date.now())?.body.length).toBe(100)
  })

  it("reads again once an entry is older than its lifetime, so deleted files stop being served", async () => {
    const cache = makeFileCache({ budgetBytes: 1000, maxFileBytes: 500, ttlMs: 1000 })
    const path = write("b", 10)
    await cache.fill(path)
    expect(cache.lookup(path, Date.now() + 999)).toBeDefined()
    expect(cache.lookup(path, Date.now() + 1000)).toBeUndefined()
    NodeFs.rmSync(path)
    expect(await cache.fill(path)).toBe("missing")
  })

  it("keeps the most recently used files within its budget and leaves large files to streaming", async () => {
    const cache = makeFileCache({ budgetBytes: 250, maxFileBytes: 200, ttlMs: 60_000 })
    const [x, y, z] = [write("x", 100), write("y", 100), write("z", 100)]
    await cache.fill(x)
    await cache.fill(y)
    cache.lookup(x, Date.now())
    await cache.fill(z)
    expect(cache.lookup(y, Date.now())).toBeUndefined()
    expect(cache.lookup(x, Date.now())).toBeDefined()
    expect(cache.lookup(z, Date.now())).toBeDefined()
    expect(await cache.fill(write("large", 201))).toBe("too-large")
    expect(await cache.fill(dir)).toBe("missing")
    expect(await cache.fill(NodePath.join(dir, "none"))).toBe("missing")
  })
})
