import * as NodeCrypto from "node:crypto"
import pg from "pg"
import { afterAll, inject } from "vitest"

export const adminUrl = () => inject("adminDatabaseUrl")

const withDatabase = (url: string, database: string) => {
  const u = new URL(url)
  u.pathname = `/${database}`
  return u.toString()
}

export const query = async <R extends pg.QueryResultRow = Record<string, unknown>>(url: string, text: string, values: ReadonlyArray<unknown> = []) => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<R>(text, values as Array<unknown>)).rows
  } finally {
    await client.end()
  }
}

const created: Array<string> = []
// Registered at import so it belongs to the importing file; runs after the
// servers' own afterAll (hooks run in reverse), though `force` copes either way.
afterAll(async () => {
  for (const name of created.splice(0)) await query(adminUrl(), `drop database if exists ${name} with (force)`)
})

/** A database of its own for the calling test file, dropped when the file ends. */
export const freshDatabase = async (label: string) => {
  const name = `veza_t_${label}_${NodeCrypto.randomBytes(4).toString("hex")}`.toLowerCase()
  await query(adminUrl(), `create database ${name}`)
  created.push(name)
  return withDatabase(adminUrl(), name)
}
