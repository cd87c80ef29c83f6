/** Throwaway databases for tests that need a schema of their own (migrations, say). */
import { NodeContext } from "@effect/platform-node"
import { Effect, Redacted } from "effect"
import { randomUUID } from "node:crypto"
import pg from "pg"
import { runMigrations } from "../../src/database/migrations.js"
import * as PgDatabase from "../../src/database/PgDatabase.js"
import { databaseUrl } from "./layers.js"

const admin = <A>(f: (client: pg.Client) => Promise<A>) =>
  Effect.acquireUseRelease(
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString: databaseUrl() })
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => f(client)),
    (client) => Effect.promise(() => client.end())
  )

/** A new empty database, dropped when the scope closes; gives its URL. */
export const scratchDatabase = Effect.acquireRelease(
  Effect.gen(function*() {
    const name = `scratch_${randomUUID().replaceAll("-", "")}`
    yield* admin((client) => client.query(`CREATE DATABASE ${name}`))
    const url = new URL(databaseUrl())
    url.pathname = `/${name}`
    return { name, url: url.toString() }
  }),
  ({ name }) => admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
)

/** The application's SQL client layer for a database URL. */
export const sqlLayer = (url: string) => PgDatabase.layer({ url: Redacted.make(url), maxConnections: 4 })

/** Applies the project's migrations to the database at `url`. */
export const runMigrationsOn = (url: string) =>
  runMigrations().pipe(Effect.provide(sqlLayer(url)), Effect.provide(NodeContext.layer), Effect.orDie)
