/** A fresh, migrated database for one benchmark run, dropped at the end. */
import { NodeContext } from "@effect/platform-node"
import { Effect, Redacted } from "effect"
import pg from "pg"
import { appConfig } from "../../src/config.js"
import { runMigrations } from "../../src/database/migrations.js"
import * as PgDatabase from "../../src/database/PgDatabase.js"

const admin = (url: URL, statement: string) =>
  Effect.promise(async () => {
    const server = new URL(url)
    server.pathname = "/postgres"
    const client = new pg.Client({ connectionString: server.toString() })
    await client.connect()
    try {
      await client.query(statement)
    } finally {
      await client.end()
    }
  })

/** Creates `actors_bench_<name>_<time>` on the DATABASE_URL server; gives its URL. */
export const freshDatabase = (name: string) =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const config = yield* Effect.orDie(appConfig)
      const url = new URL(Redacted.value(config.database.url))
      const database = `actors_bench_${name.replace(/[^a-z0-9_]/g, "_")}_${Date.now().toString(36)}`
      yield* admin(url, `CREATE DATABASE ${database}`)
      url.pathname = `/${database}`
      yield* runMigrations().pipe(
        Effect.provide(PgDatabase.layer({ url: Redacted.make(url.toString()), maxConnections: 2 })),
        Effect.provide(NodeContext.layer),
        Effect.orDie,
        Effect.withLogSpan("migrations"),
        Effect.tapErrorCause(Effect.logError)
      )
      return { url: url.toString(), database, admin: (statement: string) => admin(url, statement) }
    }),
    ({ database, admin: run }) => run(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
  )
