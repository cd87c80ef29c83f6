/**
 * Once per test run: checks that the services `make services` starts are answering, and creates a
 * fresh database for this run, migrated, which the tests reach through `inject("databaseUrl")`.
 * Each test still owns its data (unique ids), so tests run in parallel and the run can repeat.
 */
import pg from "pg"
import type { TestProject } from "vitest/node"

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string
  }
}

const adminUrl = process.env["DATABASE_URL"] ?? "postgres://postgres:postgres@127.0.0.1:5432/actors"

const withAdmin = async <A>(f: (client: pg.Client) => Promise<A>): Promise<A> => {
  const url = new URL(adminUrl)
  url.pathname = "/postgres"
  const client = new pg.Client({ connectionString: url.toString() })
  try {
    await client.connect()
  } catch (error) {
    throw new Error(
      `PostgreSQL does not answer at ${url.host} (${String(error)}). Start the services with \`make services\`, ` +
        "or run the whole suite with `make test`, which starts them."
    )
  }
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}

export default async function setup(project: TestProject) {
  const database = `actors_test_${Date.now().toString(36)}_${process.pid}`
  await withAdmin((client) => client.query(`CREATE DATABASE ${database}`))
  const url = new URL(adminUrl)
  url.pathname = `/${database}`
  project.provide("databaseUrl", url.toString())
  return async () => {
    await withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`))
  }
}
