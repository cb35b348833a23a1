/**
 * Preloaded into a server (`NODE_OPTIONS=--import <this file>`) with
 * VEZA_CAPTURE_SQL=<file>: appends every statement the process sends through
 * `pg` to that file, one JSON line `{ text, values }` each. The query-plan
 * test and the library bench use it to EXPLAIN / replay exactly what the
 * server runs, so they follow the repos' SQL when it changes.
 */
import * as NodeFs from "node:fs"
import { createRequire } from "node:module"
import * as NodePath from "node:path"

const target = process.env["VEZA_CAPTURE_SQL"]
if (target) {
  // The same `pg` the server's @effect/sql-pg loads (resolved from the project root).
  const pg = createRequire(NodePath.join(process.cwd(), "package.json"))("pg")
  const original = pg.Client.prototype.query
  pg.Client.prototype.query = function (config, values, callback) {
    const text = typeof config === "string" ? config : config?.text
    if (typeof text === "string") {
      const params = Array.isArray(values) ? values : Array.isArray(config?.values) ? config.values : []
      NodeFs.appendFileSync(target, JSON.stringify({ text, values: params }) + "\n")
    }
    return original.call(this, config, values, callback)
  }
}
