/** Whether a process that needs the database can serve: it answers within 2 s, and every migration is applied. */
import { SqlClient } from "@effect/sql"
import { Data, Effect } from "effect"
import { migrationsApplied } from "../database/migrations.js"

export class NotReady extends Data.TaggedError("NotReady")<{ readonly message: string }> {}

export const checkReady = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const context = yield* Effect.context<SqlClient.SqlClient>()
  // A half-open connection is not an answer: the check gives up after 2 s, without waiting for the query.
  return yield* Effect.gen(function*() {
    yield* sql`SELECT 1`.pipe(Effect.mapError((error) => new NotReady({ message: `the database is unreachable: ${error.message}` })))
    const applied = yield* migrationsApplied().pipe(
      Effect.mapError((error) => new NotReady({ message: `cannot read the migrations: ${String(error)}` }))
    )
    if (!applied) return yield* new NotReady({ message: "migrations are not all applied yet" })
  }).pipe(
    Effect.provide(context),
    Effect.disconnect,
    Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => new NotReady({ message: "the database did not answer within 2 s" }) })
  )
})
