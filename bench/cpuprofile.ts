/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and lists the frames
 * where the time went: self time (the frame itself was on the CPU) and
 * inclusive time (the frame was anywhere on the stack; recursion counted once).
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}

interface Profile {
  /** Microseconds on the monotonic clock, the same as `process.hrtime` in any process on the host. */
  readonly startTime: number
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const IDLE = new Set(["(idle)", "(root)"])

/** `name file:line`, with node_modules paths shortened to the package. */
const frameKey = (node: ProfileNode) => {
  const { functionName, url, lineNumber } = node.callFrame
  const name = functionName === "" ? "(anonymous)" : functionName
  if (url === "") return name
  const path = url.replace(/^file:\/\//, "")
  const inModules = path.lastIndexOf("node_modules/")
  const short = inModules !== -1 ? path.slice(inModules + "node_modules/".length) : path.startsWith("node:") ? path : NodePath.relative(process.cwd(), path)
  return `${name} ${short}:${lineNumber + 1}`
}

export interface ProfileSummary {
  /** Sampled time not idle, in ms. */
  readonly busyMs: number
  readonly self: ReadonlyArray<{ readonly frame: string; readonly ms: number; readonly share: number }>
  readonly inclusive: ReadonlyArray<{ readonly frame: string; readonly ms: number; readonly share: number }>
}

/** Microseconds on the clock the profile uses: pass `window` bounds taken with this. */
export const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n)

/** `window`: only samples taken between these monotonicMicros() readings (start-up and warm-up left out). */
export const summarizeProfile = (file: string, top = 20, window?: { readonly from: number; readonly to: number }): ProfileSummary => {
  const profile = JSON.parse(NodeFs.readFileSync(file, "utf8")) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  let at = profile.startTime
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0
    at += delta
    if (window !== undefined && (at < window.from || at > window.to)) return
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta)
  })

  const self = new Map<string, number>()
  const inclusive = new Map<string, number>()
  let busy = 0
  // Depth-first from the root, carrying the keys already on the stack.
  const root = profile.nodes[0]!
  const walk = (node: ProfileNode, onStack: ReadonlySet<string>): number => {
    const key = frameKey(node)
    const idle = IDLE.has(node.callFrame.functionName)
    let total = idle ? 0 : selfUs.get(node.id) ?? 0
    if (!idle && total > 0) self.set(key, (self.get(key) ?? 0) + total)
    busy += idle ? 0 : selfUs.get(node.id) ?? 0
    const next = onStack.has(key) ? onStack : new Set([...onStack, key])
    for (const child of node.children ?? []) total += walk(byId.get(child)!, next)
    if (!idle && !onStack.has(key)) inclusive.set(key, (inclusive.get(key) ?? 0) + total)
    return total
  }
  walk(root, new Set())
  const rank = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([frame, us]) => ({ frame, ms: us / 1000, share: us / Math.max(1, busy) }))
  return { busyMs: busy / 1000, self: rank(self), inclusive: rank(inclusive) }
}

export const printProfile = (summary: ProfileSummary, requests: number) => {
  const perReq = (ms: number) => ((ms * 1000) / Math.max(1, requests)).toFixed(1).padStart(7)
  console.log(`  sampled busy time ${summary.busyMs.toFixed(0)} ms over ${requests} requests (${perReq(summary.busyMs).trim()} µs/req)`)
  console.log(`  top self time:${" ".repeat(60)}share  µs/req`)
  for (const f of summary.self) console.log(`    ${f.frame.slice(0, 70).padEnd(70)}${(f.share * 100).toFixed(1).padStart(6)}%${perReq(f.ms)}`)
  console.log(`  top inclusive time:${" ".repeat(55)}share  µs/req`)
  for (const f of summary.inclusive) console.log(`    ${f.frame.slice(0, 70).padEnd(70)}${(f.share * 100).toFixed(1).padStart(6)}%${perReq(f.ms)}`)
}
