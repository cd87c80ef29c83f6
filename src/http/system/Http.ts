/** Handlers of /health, /ready and /metrics. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { migrationsApplied } from "../../database/migrations.js"
import { metricsText } from "../../observability/prometheus.js"
import { Api } from "../Api.js"
import { Unavailable } from "../errors.js"

export const SystemHttpLive = HttpApiBuilder.group(Api, "system", (handlers) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const context = yield* Effect.context<SqlClient.SqlClient>()
    const notReady = (message: string) => new Unavailable({ error: "not_ready", message, retryAfterSeconds: 1 })

    // Ready only while the database answers, within 2 s: a half-open connection is not an answer.
    const ready = Effect.gen(function*() {
      yield* sql`SELECT 1`.pipe(Effect.mapError((error) => notReady(`the database is unreachable: ${error.message}`)))
      const applied = yield* migrationsApplied().pipe(
        Effect.mapError((error) => notReady(`cannot read the migrations: ${String(error)}`))
      )
      if (!applied) return yield* Effect.fail(notReady("migrations are not all applied yet"))
      return { status: "ready" as const }
    }).pipe(
      Effect.provide(context),
      Effect.disconnect,
      Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => notReady("the database did not answer within 2 s") })
    )

    return handlers
      .handle("health", () => Effect.succeed({ status: "ok" as const }))
      .handle("ready", () => ready)
      .handle("metrics", () => metricsText)
  }))
