/**
 * `make bench-replay`: how long loading an aggregate takes, with and without snapshots.
 *
 * For each stream length, one order stream of that many events, sized like real order events, is
 * written; then a fresh actor (empty cache) loads it, again and again, in three ways, interleaved:
 *   full      every event read, decoded (upcast) and folded — snapshots off;
 *   snapshot  the latest snapshot (one every `--snapshot-every` events) and the events after it,
 *             in one round trip, decoded and folded;
 *   floor     a bare SELECT of what folding needs (version, type, schema version, payload) through a plain
 *             pg client: no decoding, no folding.
 * After `--warmup` loads, `--loads` loads of each are timed; p50/p95/p99 and the ratios.
 *
 *   node --import tsx bench/replay.ts [--sizes 100,1000,10000,100000] [--loads 30] [--warmup 5] [--snapshot-every 50]
 */
import { Effect, Layer, Redacted } from "effect"
import { randomUUID } from "node:crypto"
import { writeFileSync } from "node:fs"
import path from "node:path"
import { parseArgs } from "node:util"
import { performance } from "node:perf_hooks"
import pg from "pg"
import * as PgDatabase from "../src/database/PgDatabase.js"
import { type OrderEvent, orderAggregate, type OrderState } from "../src/domain/order/index.js"
import { EventStore, type NewEvent } from "../src/eventstore/EventStore.js"
import * as PgEventStore from "../src/eventstore/PgEventStore.js"
import { makeAggregateActor } from "../src/runtime/AggregateActor.js"
import { logLogChart } from "./lib/chart.js"
import { freshDatabase } from "./lib/database.js"
import { withProgress } from "./lib/progress.js"
import { markdownTable, resultsDirectory, runBenchmark } from "./lib/report.js"
import { percentiles, ratio } from "./lib/stats.js"

export interface ReplayBenchSettings {
  readonly sizes: ReadonlyArray<number>
  readonly loads: number
  readonly warmup: number
  readonly snapshotEvery: number
  readonly quiet: boolean
}

export type ReplayMode = "full" | "snapshot" | "floor"

export interface ReplayRow {
  readonly events: number
  readonly mode: ReplayMode
  readonly p50Ms: number
  readonly p95Ms: number
  readonly p99Ms: number
  readonly loads: number
}

const at = "2026-01-01T00:00:00.000Z"

/** Event `i` (from 2) of a long-lived order: items added and removed in turn, so it stays valid. */
const eventAt = (i: number): OrderEvent =>
  i % 2 === 0
    ? { _tag: "ItemAdded", sku: `sku-${i % 97}`, quantity: 1 + (i % 7), unitPriceCents: 100 + (i % 1000) }
    : { _tag: "ItemRemoved", sku: `sku-${(i - 1) % 97}` }

/** Writes an order stream of `length` events, and a snapshot at the last multiple of `every`; gives its id. */
const writeStream = (length: number, every: number) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const streamId = randomUUID()
    const customerId = randomUUID()
    const userId = randomUUID()
    let state: OrderState = orderAggregate.initialState
    let snapshotState: { version: number; state: OrderState } | undefined
    for (let from = 1; from <= length; from += 1000) {
      const batch: Array<NewEvent> = []
      for (let version = from; version < Math.min(length + 1, from + 1000); version++) {
        const event: OrderEvent = version === 1
          ? {
            _tag: "OrderPlaced",
            customerId,
            currency: "EUR",
            lines: [{ sku: "base-1", quantity: 2, unitPriceCents: 1250 }, { sku: "base-2", quantity: 1, unitPriceCents: 399 }],
            placedAt: at
          }
          : eventAt(version)
        state = orderAggregate.evolve(state, event)
        if (every > 0 && version % every === 0) snapshotState = { version, state }
        batch.push({
          eventId: randomUUID(),
          ...orderAggregate.events.encode(event),
          metadata: { correlationId: randomUUID(), causationId: randomUUID(), userId }
        })
      }
      yield* store.append({ streamId, streamType: "order", expectedVersion: from - 1, events: batch })
    }
    if (snapshotState !== undefined) {
      yield* store.saveSnapshot({
        streamId,
        streamType: "order",
        version: snapshotState.version,
        schemaVersion: orderAggregate.snapshots!.codec.schemaVersion,
        state: orderAggregate.snapshots!.codec.encode(snapshotState.state),
        keep: orderAggregate.snapshots!.keep
      })
    }
    return streamId
  })

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const started = performance.now()
    const result = yield* effect
    return { ms: performance.now() - started, result }
  })

export const runReplayBench = (options: ReplayBenchSettings) =>
  Effect.gen(function*() {
    const database = yield* freshDatabase("replay")
    const floorClient = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const client = new pg.Client({ connectionString: database.url })
        await client.connect()
        return client
      }),
      (client) => Effect.promise(() => client.end())
    )
    return yield* Effect.gen(function*() {
      const store = yield* EventStore
      const rows: Array<ReplayRow> = []
      for (const size of options.sizes) {
        const streamId = yield* withProgress(`writing a stream of ${size} events`, size, options.quiet, (progress) =>
          Effect.tap(writeStream(size, options.snapshotEvery), () => Effect.sync(() => progress.update(size, { unit: "events", detail: "" }))))
        // A fresh actor each time: an actor that has loaded keeps its state and would not read again.
        const load = {
          full: timed(Effect.suspend(() => makeAggregateActor(orderAggregate, store, { id: streamId, current: undefined }, 5).read)),
          snapshot: timed(Effect.suspend(() =>
            makeAggregateActor(orderAggregate, store, { id: streamId, current: undefined }, 5, { every: options.snapshotEvery, background: () => undefined }).read
          )),
          floor: timed(Effect.promise(() =>
            floorClient.query(
              `SELECT version, event_type, schema_version, payload FROM events WHERE stream_id = $1 ORDER BY version`,
              [streamId]
            )
          ))
        }
        // Both ways must give the same state, or the timing means nothing.
        const [full, snapshot] = [(yield* load.full).result, (yield* load.snapshot).result]
        if (JSON.stringify(full) !== JSON.stringify(snapshot) || full.version !== size) {
          return yield* Effect.dieMessage(`stream of ${size}: the snapshot load does not give the full replay's state`)
        }
        const samples: Record<ReplayMode, Array<number>> = { full: [], snapshot: [], floor: [] }
        const total = options.warmup + options.loads
        yield* withProgress(`loading ${size} events ×${total} ×3`, total, options.quiet, (progress) =>
          Effect.gen(function*() {
            for (let i = 0; i < total; i++) {
              for (const mode of ["full", "snapshot", "floor"] as const) {
                const { ms } = yield* load[mode]
                if (i >= options.warmup) samples[mode].push(ms)
              }
              progress.update(i + 1, { unit: "rounds", detail: "" })
            }
          }))
        for (const mode of ["full", "snapshot", "floor"] as const) {
          const { p50Ms, p95Ms, p99Ms, samples: loads } = percentiles(samples[mode])
          rows.push({ events: size, mode, p50Ms, p95Ms, p99Ms, loads })
        }
      }
      return rows
    }).pipe(
      Effect.provide(
        PgEventStore.layer.pipe(Layer.provideMerge(PgDatabase.layer({ url: Redacted.make(database.url), maxConnections: 4 })))
      )
    )
  }).pipe(Effect.scoped)

export const replayMarkdown = (options: ReplayBenchSettings, rows: ReadonlyArray<ReplayRow>) => {
  const row = (events: number, mode: ReplayMode) => rows.find((candidate) => candidate.events === events && candidate.mode === mode)!
  const cell = (r: ReplayRow) => `${r.p50Ms} / ${r.p95Ms} / ${r.p99Ms}`
  return [
    `### Replay: loading an order, ms p50 / p95 / p99 (${rows[0]?.loads ?? 0} loads each, snapshot every ${options.snapshotEvery})`,
    "",
    markdownTable(
      ["events", "full replay", `snapshot + tail`, "floor (bare SELECT)", "full ÷ floor (p50)", "full ÷ snapshot (p50)"],
      options.sizes.map((events) => [
        events.toLocaleString("en"),
        cell(row(events, "full")),
        cell(row(events, "snapshot")),
        cell(row(events, "floor")),
        ratio(row(events, "full").p50Ms, row(events, "floor").p50Ms),
        ratio(row(events, "full").p50Ms, row(events, "snapshot").p50Ms)
      ])
    ),
    "",
    "![load time against stream length](replay.svg)"
  ].join("\n")
}

export const replayChart = (options: ReplayBenchSettings, rows: ReadonlyArray<ReplayRow>) =>
  logLogChart({
    title: "Loading an order: p50 load time against stream length",
    xLabel: "events in the stream (log)",
    yLabel: "p50 load time, ms (log)",
    series: ([["full", "full replay", "#d62728"], ["snapshot", `snapshot every ${options.snapshotEvery}`, "#1f77b4"], [
      "floor",
      "bare SELECT (floor)",
      "#7f7f7f"
    ]] as const).map(([mode, name, color]) => ({
      name,
      color,
      points: rows.filter((row) => row.mode === mode).map((row) => ({ x: row.events, y: Math.max(row.p50Ms, 0.01) }))
    }))
  })

const main = Effect.gen(function*() {
  const { values } = parseArgs({
    options: {
      sizes: { type: "string", default: "100,1000,10000,100000" },
      loads: { type: "string", default: "30" },
      warmup: { type: "string", default: "5" },
      "snapshot-every": { type: "string", default: "50" }
    }
  })
  const options: ReplayBenchSettings = {
    sizes: values.sizes.split(",").map(Number),
    loads: Number(values.loads),
    warmup: Number(values.warmup),
    snapshotEvery: Number(values["snapshot-every"]),
    quiet: false
  }
  const rows = yield* runReplayBench(options)
  writeFileSync(path.join(resultsDirectory, "replay.svg"), replayChart(options, rows))
  return { settings: { ...options }, rows, markdown: replayMarkdown(options, rows) }
})

if (import.meta.url === `file://${process.argv[1]}`) runBenchmark("replay", main)
