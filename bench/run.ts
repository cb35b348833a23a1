/**
 * `npm run bench`: Veza's endpoints against bare baselines doing the same
 * work, side by side in one run. Prints the measured figures and each one's
 * ratio to the baseline measured in the same run.
 *
 *   npm run bench                      everything (users, library, streaming, chat)
 *   npm run bench -- users             GET /api/v1/users/:id only
 *   npm run bench -- library           track get/list/search on a seeded library (env: see bench/library.ts)
 *   npm run bench -- streaming         job + batch + hls
 *   npm run bench -- job batch hls     any of the streaming parts
 *   npm run bench -- hls --profile     also CPU-profile the server under the segment load
 *   npm run bench -- chat              chat-broadcast + chat-latency + chat-memory + chat-mix
 *   npm run bench -- chat-mix          any of the chat parts (sizes: see bench/chat.ts)
 */
import { CHAT_PARTS, type ChatPart, runChat } from "./chat.js"
import { runStreaming, STREAMING_PARTS, type StreamingPart } from "./streaming.js"
import { adminUrl } from "./lib.js"
import { runLibrary } from "./library.js"
import { runUsers } from "./users.js"

const SCENARIOS = ["users", "library", ...STREAMING_PARTS, ...CHAT_PARTS] as const
type Scenario = (typeof SCENARIOS)[number]

const parseArgs = (argv: ReadonlyArray<string>) => {
  const flags = new Set(argv.filter((a) => a.startsWith("--")))
  for (const f of flags) if (f !== "--profile") throw new Error(`unknown flag ${f} (known: --profile)`)
  const names = argv.filter((a) => !a.startsWith("--"))
  const selected = new Set<Scenario>()
  for (const name of names.length === 0 ? ["all"] : names) {
    if (name === "all") SCENARIOS.forEach((s) => selected.add(s))
    else if (name === "streaming") STREAMING_PARTS.forEach((s) => selected.add(s))
    else if (name === "chat") CHAT_PARTS.forEach((s) => selected.add(s))
    else if ((SCENARIOS as ReadonlyArray<string>).includes(name)) selected.add(name as Scenario)
    else throw new Error(`unknown scenario "${name}" (known: all, streaming, chat, ${SCENARIOS.join(", ")})`)
  }
  return { selected, profile: flags.has("--profile") }
}

const main = async () => {
  const { selected, profile } = parseArgs(process.argv.slice(2))
  const admin = await adminUrl()
  try {
    if (selected.has("users")) await runUsers(admin)
    if (selected.has("library")) {
      if (selected.has("users")) console.log("")
      await runLibrary(admin)
    }
    const parts = STREAMING_PARTS.filter((p): p is StreamingPart => selected.has(p))
    if (parts.length > 0) {
      if (selected.has("users") || selected.has("library")) console.log("")
      await runStreaming(admin, parts, { profile })
    }
    const chatParts = CHAT_PARTS.filter((p): p is ChatPart => selected.has(p))
    if (chatParts.length > 0) {
      if (selected.has("users") || parts.length > 0) console.log("")
      await runChat(admin, chatParts)
    }
  } finally {
    await admin.close()
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
