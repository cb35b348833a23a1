import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Effect, Exit, Redacted, Scope } from "effect"
import type { TestProject } from "vitest/node"
import { embeddedPostgres } from "../../src/platform/embedded-postgres.js"

declare module "vitest" {
  export interface ProvidedContext {
    adminDatabaseUrl: string
  }
}

/**
 * Tests talk to a real PostgreSQL: DATABASE_URL when it is set (CI points it
 * at the machine's server), otherwise one embedded cluster for the whole run.
 * Each test file then creates its own database on it.
 */
export default async function setup(project: TestProject) {
  if (!NodeFs.existsSync(NodePath.resolve("dist/src/main.js"))) {
    throw new Error("dist/ is missing: run the suite with `npm test` (it builds first)")
  }
  const fromEnv = process.env["DATABASE_URL"]
  if (fromEnv !== undefined && fromEnv !== "") {
    project.provide("adminDatabaseUrl", fromEnv)
    return
  }
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-test-pg-"))
  NodeFs.chmodSync(dir, 0o755)
  const scope = Effect.runSync(Scope.make())
  const url = await Effect.runPromise(Scope.extend(embeddedPostgres(NodePath.join(dir, "pg")), scope))
  project.provide("adminDatabaseUrl", Redacted.value(url))
  return async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    NodeFs.rmSync(dir, { recursive: true, force: true })
  }
}
