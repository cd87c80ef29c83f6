/** PgEventStore against the EventStore contract, on this run's database. */
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import { StoreLive } from "../../src/app.js"
import { EventStore } from "../../src/eventstore/EventStore.js"
import { eventStoreContract, StoreUnderTest } from "../contract/eventStoreContract.js"
import { testConfig } from "../support/layers.js"

const PgStoreUnderTest = Layer.effect(
  StoreUnderTest,
  Effect.gen(function*() {
    const store = yield* EventStore
    const sql = yield* SqlClient.SqlClient
    return {
      store,
      // PostgreSQL records its own now(): the events appended are given the time afterwards.
      appendAt: (at, request) =>
        Effect.tap(store.append(request), (outcome) =>
          outcome._tag === "Appended"
            ? sql`UPDATE events SET recorded_at = ${at.toISOString()}::timestamptz
                WHERE stream_id = ${request.streamId}
                  AND version BETWEEN ${outcome.result.fromVersion} AND ${outcome.result.toVersion}`.pipe(Effect.orDie)
            : Effect.void),
      snapshotVersions: (streamId) =>
        sql<{ version: number }>`SELECT version FROM snapshots WHERE stream_id = ${streamId} ORDER BY version`.pipe(
          Effect.map((rows) => rows.map((row) => row.version)),
          Effect.orDie
        )
    }
  })
).pipe(Layer.provide(StoreLive.pipe(Layer.provide(testConfig()))))

eventStoreContract("PgEventStore", PgStoreUnderTest)
