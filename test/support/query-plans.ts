/**
 * What a server sends to PostgreSQL, and how PostgreSQL plans it: a server
 * started with `capturingSql(file)` in its environment writes each statement
 * (text and parameters) to `file` (scripts/capture-sql.mjs); `planOf`
 * EXPLAINs one with its own parameters.
 */
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { pathToFileURL } from "node:url"
import pg from "pg"

export interface Captured {
  readonly text: string
  readonly values: ReadonlyArray<unknown>
}

export interface PlanNode {
  readonly "Node Type": string
  readonly "Relation Name"?: string
  readonly "Index Name"?: string
  readonly Plans?: ReadonlyArray<PlanNode>
}

/** The environment that makes a server started by `startServer` write its statements to `file`. */
export const capturingSql = (file: string) => ({
  NODE_OPTIONS: `--import ${pathToFileURL(NodePath.resolve("scripts/capture-sql.mjs")).href}`,
  VEZA_CAPTURE_SQL: file
})

export const readCaptured = (file: string): Array<Captured> =>
  NodeFs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Captured)

const nodes = (n: PlanNode): Array<PlanNode> => [n, ...(n.Plans ?? []).flatMap(nodes)]

/** Every node of the statement's plan. */
export const planOf = async (client: pg.Client, s: Captured) => {
  const rows = (await client.query<{ "QUERY PLAN": Array<{ Plan: PlanNode }> }>(`explain (format json) ${s.text}`, s.values as Array<unknown>)).rows
  return nodes(rows[0]!["QUERY PLAN"][0]!.Plan)
}
