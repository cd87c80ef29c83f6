/**
 * The ops server every long-running process serves, apart from its API: /health, /ready and
 * /metrics (Prometheus). It binds to OPS_HOST, loopback unless told otherwise, so that metrics need
 * no credentials and never face the callers of the API: a scraper reaches it inside the deployment,
 * and needs no token that could also place or cancel orders.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import * as NodeServer from "../http/nodeServer.js"
import { contentType, metricsText } from "./prometheus.js"
import { collectRuntimeMetrics } from "./runtimeMetrics.js"
import { checkAllReady, type ReadinessCheck } from "./readiness.js"

export interface OpsServerOptions {
  readonly port: number
  readonly host: string
  /** The name the start-up log gives the server. */
  readonly name: string
  /**
   * What else must answer for /ready, beside the database (a broker, the relay's election, the
   * consumer group): /health only says the process is alive; /ready, that its dependencies answer.
   */
  readonly checks?: ReadonlyArray<ReadinessCheck>
}

const routes = (checks: ReadonlyArray<ReadinessCheck>) =>
  HttpRouter.empty.pipe(
    HttpRouter.get("/health", HttpServerResponse.json({ status: "ok" })),
    HttpRouter.get(
      "/ready",
      checkAllReady(checks).pipe(
        Effect.flatMap((details) => HttpServerResponse.json({ status: "ready", ...details })),
        Effect.catchTag("NotReady", (notReady) => HttpServerResponse.json({ error: "not_ready", message: notReady.message }, { status: 503 }))
      )
    ),
    HttpRouter.get("/metrics", Effect.map(metricsText, (text) => HttpServerResponse.text(text, { contentType })))
  )

/** Serves the ops endpoints; exposes nothing, needs the database pool (for /ready). */
export const layer = (options: OpsServerOptions): Layer.Layer<never, never, SqlClient.SqlClient> =>
  Layer.mergeAll(
    HttpServer.serve(routes(options.checks ?? [])),
    Layer.effectDiscard(collectRuntimeMetrics),
    Layer.effectDiscard(
      HttpServer.addressFormattedWith((address) => Effect.logInfo(`${options.name} ops server (/health, /ready, /metrics) at ${address}`))
    )
  ).pipe(
    Layer.provide(NodeServer.layer({ port: options.port, host: options.host })),
    Layer.orDie
  )
