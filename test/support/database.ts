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

/** A database of its own for the calling test file, dropped when the file ends. */
export const freshDatabase = async (label: string) => {
  const name = `veza_t_${label}_${NodeCrypto.randomBytes(4).toString("hex")}`.toLowerCase()
  await query(adminUrl(), `create database ${name}`)
  afterAll(async () => {
    await query(adminUrl(), `drop database if exists ${name} with (force)`)
  })
  return withDatabase(adminUrl(), name)
}
