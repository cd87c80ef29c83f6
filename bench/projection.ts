/**
 * `make bench-projection`: how far behind the read model runs, and how fast it is rebuilt.
 *
 * 1. Lag at a steady rate: order lives through the actor runtime at `--rate` events/s, the relay in
 *    the same process, the projector in a process of its own; for each row, the time from its latest
 *    event's commit (recorded_at) to its last write.
 * 2. Rebuild: `--events` events (orders of `--stream-length` events) are written to a fresh store;
 *    then `projections rebuild order_summaries` replays them into a new table and swaps it in;
 *    events/s. Floor, in the same run: the same rows read page by page with a bare SELECT through a
 *    plain pg client, no decoding, no folding, no writing.
 *
 *   node --import tsx bench/projection.ts [--rate 1000] [--seconds 30] [--warmup 3] [--events 1000000] [--stream-length 25]
 */
import { SqlClient } from "@effect/sql"
import { Duration, Effect, Layer, Redacted } from "effect"
import { parseArgs } from "node:util"
import pg from "pg"
import { RelayLive } from "../src/app.js"
import { AppConfig } from "../src/config.js"
import * as PgDatabase from "../src/database/PgDatabase.js"
import * as PgEventStore from "../src/eventstore/PgEventStore.js"
import * as OrderSummaries from "../src/projections/OrderSummaries.js"
import { rebuildOrderSummaries } from "../src/projections/rebuild.js"
import { runPrefix } from "./lib/brokers.js"
import { freshDatabase } from "./lib/database.js"
import { startCli } from "./lib/processes.js"
import { steadyLoad, writeBacklog } from "./lib/load.js"
import { withProgress } from "./lib/progress.js"
import { markdownTable, runBenchmark } from "./lib/report.js"
import { percentiles, type Percentiles, perSecond, ratio } from "./lib/stats.js"

export interface ProjectionBenchSettings {
  readonly rate: number
  readonly seconds: number
  readonly warmupSeconds: number
  readonly events: number
  readonly streamLength: number
  readonly quiet: boolean
}

/** The application's settings, pointed at a benchmark's database and prefix. */
const benchConfig = (url: string, prefix: string) =>
  Layer.effect(
    AppConfig,
    Effect.map(AppConfig, (base) => ({
      ...base,
      database: { ...base.database, url: Redacted.make(url), maxConnections: 16 },
      messagingPrefix: prefix,
      outbox: { ...base.outbox, pollInterval: Duration.millis(500) }
    }))
  ).pipe(Layer.provide(AppConfig.layer))

const storeOn = (url: string) =>
  Layer.mergeAll(PgEventStore.layer, OrderSummaries.layer).pipe(
    Layer.provideMerge(PgDatabase.layer({ url: Redacted.make(url), maxConnections: 16, applicationName: "bench-projection" }))
  )

/**
 * Lag phase: the runtime and the relay in this process, the projector in a process of its own (as
 * `project` runs it), commands at a steady rate. Each row's lag is read from the table at the end:
 * projected_at (its last write) less updated_at (its latest event's commit), both on the database's
 * clock.
 */
const lagPhase = (options: ProjectionBenchSettings) =>
  Effect.gen(function*() {
    const database = yield* freshDatabase("projection_lag")
    const { prefix } = yield* runPrefix("projection")
    const projector = yield* startCli(["project"], { DATABASE_URL: database.url, MESSAGING_PREFIX: prefix })
    yield* projector.waitForLine(/projector consuming/, 60_000)
    return yield* Effect.gen(function*() {
      const seconds = options.warmupSeconds + options.seconds
      const measuredFrom = new Date(Date.now() + options.warmupSeconds * 1000).toISOString()
      yield* withProgress(`commands at ${options.rate} events/s`, options.rate * seconds, options.quiet, (progress) =>
        steadyLoad(options.rate, seconds, (issued) => progress.update(issued, { unit: "events", detail: "" }), () => undefined))
      yield* Effect.sleep("3 seconds")
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ lag_ms: number }>`
        SELECT extract(epoch FROM projected_at - updated_at) * 1000 AS lag_ms
        FROM order_summaries WHERE updated_at >= ${measuredFrom}::timestamptz`
      return percentiles(rows.map((row) => Number(row.lag_ms)))
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(storeOn(database.url), RelayLive.pipe(Layer.provide(benchConfig(database.url, prefix))))))
  }).pipe(Effect.scoped)

const rebuildPhase = (options: ProjectionBenchSettings) =>
  Effect.gen(function*() {
    const database = yield* freshDatabase("projection_rebuild")
    return yield* Effect.gen(function*() {
      const events = yield* writeBacklog(options.events, options.quiet, options.streamLength)
      const started = Date.now()
      yield* withProgress("rebuilding order_summaries", events, options.quiet, (progress) =>
        rebuildOrderSummaries(({ done, total }) =>
          progress.update(done, { unit: "events", detail: `${perSecond(done, Date.now() - started)} events/s of ${total}` })))
      const rebuildMillis = Date.now() - started

      // The floor: the same rows, read page by page, no decoding or folding or writing.
      const floorMillis = yield* withProgress("bare SELECT of the same rows", events, options.quiet, (progress) =>
        Effect.promise(async () => {
          const client = new pg.Client({ connectionString: database.url })
          await client.connect()
          const begun = Date.now()
          let after = 0
          let read = 0
          for (;;) {
            const page = await client.query(
              "SELECT * FROM events WHERE global_position > $1 ORDER BY global_position LIMIT 5000",
              [after]
            )
            if (page.rows.length === 0) break
            read += page.rows.length
            after = Number(page.rows[page.rows.length - 1].global_position)
            progress.update(read, { unit: "events", detail: "" })
          }
          const millis = Date.now() - begun
          await client.end()
          return millis
        }))
      return { events, rebuildMillis, floorMillis }
    }).pipe(Effect.provide(storeOn(database.url)))
  }).pipe(Effect.scoped)

export interface ProjectionBenchResult {
  readonly lag: Percentiles
  readonly rebuild: { readonly events: number; readonly rebuildMillis: number; readonly floorMillis: number }
}

export const runProjectionBench = (options: ProjectionBenchSettings) =>
  Effect.gen(function*() {
    const lag = yield* lagPhase(options)
    const rebuild = yield* rebuildPhase(options)
    return { lag, rebuild } satisfies ProjectionBenchResult
  })

export const projectionRows = (result: ProjectionBenchResult) => [
  { kind: "lag", ...result.lag },
  {
    kind: "rebuild",
    mode: "rebuild",
    events: result.rebuild.events,
    seconds: result.rebuild.rebuildMillis / 1000,
    eventsPerSecond: perSecond(result.rebuild.events, result.rebuild.rebuildMillis)
  },
  {
    kind: "rebuild",
    mode: "floor",
    events: result.rebuild.events,
    seconds: result.rebuild.floorMillis / 1000,
    eventsPerSecond: perSecond(result.rebuild.events, result.rebuild.floorMillis)
  }
]

export const projectionMarkdown = (options: ProjectionBenchSettings, result: ProjectionBenchResult) => {
  const rebuildRate = perSecond(result.rebuild.events, result.rebuild.rebuildMillis)
  const floorRate = perSecond(result.rebuild.events, result.rebuild.floorMillis)
  return [
    `### Projection lag at a steady ${options.rate} events/s (${options.seconds} s after ${options.warmupSeconds} s warm-up)`,
    "",
    markdownTable(["event committed → read-model row written", "p50 ms", "p95 ms", "p99 ms", "rows"], [
      ["order_summaries", result.lag.p50Ms, result.lag.p95Ms, result.lag.p99Ms, result.lag.samples]
    ]),
    "",
    `### Rebuild of order_summaries from ${result.rebuild.events} events (orders of ${options.streamLength} events)`,
    "",
    markdownTable(["", "events/s", "seconds", "÷ floor"], [
      ["rebuild (read, decode, fold, write, swap)", rebuildRate, (result.rebuild.rebuildMillis / 1000).toFixed(1), ratio(rebuildRate, floorRate)],
      ["floor: bare SELECT of the same rows", floorRate, (result.rebuild.floorMillis / 1000).toFixed(1), 1]
    ])
  ].join("\n")
}

const main = Effect.gen(function*() {
  const { values } = parseArgs({
    options: {
      rate: { type: "string", default: "1000" },
      seconds: { type: "string", default: "30" },
      warmup: { type: "string", default: "3" },
      events: { type: "string", default: "1000000" },
      "stream-length": { type: "string", default: "25" }
    }
  })
  const options: ProjectionBenchSettings = {
    rate: Number(values.rate),
    seconds: Number(values.seconds),
    warmupSeconds: Number(values.warmup),
    events: Number(values.events),
    streamLength: Number(values["stream-length"]),
    quiet: false
  }
  const result = yield* runProjectionBench(options)
  return { settings: { ...options }, rows: projectionRows(result), markdown: projectionMarkdown(options, result) }
})

if (import.meta.url === `file://${process.argv[1]}`) runBenchmark("projection", main)
