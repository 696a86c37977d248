import { randomUUID } from 'node:crypto'
import pg from 'pg'

/**
 * Creates a throwaway database on the server of `adminUrl` and answers its URL and a `drop`.
 * Suites and benchmarks each get their own, so they never see each other's rows or pg-boss
 * schemas and never leave tables in the server's own database.
 */
export async function createScratchDatabase(
  adminUrl: string,
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `kaixu_test_${randomUUID().replaceAll('-', '').slice(0, 16)}`
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString: adminUrl })
    await client.connect()
    try {
      await client.query(sql)
    } finally {
      await client.end()
    }
  }
  await run(`CREATE DATABASE ${name}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return { url: url.toString(), drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
}
