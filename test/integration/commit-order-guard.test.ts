/**
 * A database moved by dump/restore or logical replication keeps the old cluster's transaction ids:
 * the relay refuses to start instead of silently skipping every new event.
 */
import { SqlClient } from "@effect/sql"
import { expect, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { RelayLive } from "../../src/app.js"
import { checkCommitOrder } from "../../src/eventstore/commitOrderGuard.js"
import { runMigrationsOn, scratchDatabase, sqlLayer } from "../support/databases.js"
import { testConfig } from "../support/layers.js"

it.scopedLive("the relay refuses a database whose stored transaction ids are ahead of its own, and says what to do", () =>
  Effect.gen(function*() {
    const database = yield* scratchDatabase
    yield* runMigrationsOn(database.url)
    yield* checkCommitOrder.pipe(Effect.provide(sqlLayer(database.url)))

    // What a moved database looks like: the cursor carries an id from a cluster far ahead of this one.
    yield* Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE outbox_cursors SET transaction_id = ((pg_current_xact_id()::text)::bigint + 1000000)::text::xid8`
    }).pipe(Effect.provide(sqlLayer(database.url)))

    const refused = yield* Effect.flip(checkCommitOrder.pipe(Effect.provide(sqlLayer(database.url))))
    expect(refused._tag).toBe("ForeignCommitOrder")
    const relay = yield* Effect.exit(Layer.build(RelayLive.pipe(Layer.provide(testConfig({ databaseUrl: database.url })))))
    expect(Exit.isFailure(relay)).toBe(true)
    expect(String(Exit.isFailure(relay) ? relay.cause : "")).toMatch(/Moving the database/)
  }), { timeout: 60_000 })
