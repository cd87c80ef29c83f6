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

/**
 * One dependency a process needs besides the database, named in the /ready answer. `check` gives the
 * details /ready reports (such as whether the relay is active), or fails naming what does not answer.
 */
export interface ReadinessCheck {
  readonly name: string
  readonly check: Effect.Effect<Readonly<Record<string, unknown>>, NotReady>
}

/** Like the database check, a check gives up after 2 s: a half-open connection is a 503, never a hanging probe. */
export const within2s = (check: ReadinessCheck): Effect.Effect<Readonly<Record<string, unknown>>, NotReady> =>
  check.check.pipe(
    Effect.disconnect,
    Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => new NotReady({ message: `${check.name} did not answer within 2 s` }) })
  )

/**
 * The database check and every extra one, side by side: the details of all when each passes, or one
 * NotReady naming every one that did not.
 */
export const checkAllReady = (checks: ReadonlyArray<ReadinessCheck>) =>
  Effect.gen(function*() {
    const results = yield* Effect.all(
      [checkReady.pipe(Effect.as({})), ...checks.map(within2s)],
      { concurrency: "unbounded", mode: "either" }
    )
    const failures = results.flatMap((result) => result._tag === "Left" ? [result.left.message] : [])
    if (failures.length > 0) return yield* new NotReady({ message: failures.join("; ") })
    const details = results.map((result) => result._tag === "Right" ? result.right : {})
    return Object.assign({ checked: ["database", ...checks.map((check) => check.name)] }, ...details) as Record<string, unknown>
  })
