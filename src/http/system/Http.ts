/** Handlers of /health and /ready. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { checkReady } from "../../observability/readiness.js"
import { Api } from "../Api.js"
import { Unavailable } from "../errors.js"

export const SystemHttpLive = HttpApiBuilder.group(Api, "system", (handlers) =>
  Effect.gen(function*() {
    const context = yield* Effect.context<SqlClient.SqlClient>()
    const ready = checkReady.pipe(
      Effect.provide(context),
      Effect.as({ status: "ready" as const }),
      Effect.mapError((notReady) => new Unavailable({ error: "not_ready", message: notReady.message, retryAfterSeconds: 1 }))
    )
    return handlers
      .handle("health", () => Effect.succeed({ status: "ok" as const }))
      .handle("ready", () => ready)
  }))
