/**
 * `make bench-commands`: commands through the runtime and through HTTP, against a baseline measured
 * in the same run — as many bare single-row INSERT transactions through a plain pg pool, with the
 * same concurrency.
 *
 * Two shapes of load, `--clients` concurrent clients each sending commands one after another:
 *   spread  across `--aggregates` orders (client k works on orders k, k + clients, …);
 *   hot     all on one order.
 * Every client adds an item of its own SKU and removes it again, in turn, so every command is
 * accepted whatever the interleaving. Each command is answered only once its event is durable.
 *
 *   node --import tsx bench/commands.ts [--commands 20000] [--clients 64] [--aggregates 1000]
 */
import { HttpServer } from "@effect/platform"
import { Effect, Layer, Redacted } from "effect"
import { randomUUID } from "node:crypto"
import { parseArgs } from "node:util"
import { performance } from "node:perf_hooks"
import pg from "pg"
import { HttpLive, RuntimeLive } from "../src/app.js"
import { OrderActors } from "../src/aggregates.js"
import { AppConfig } from "../src/config.js"
import { OrderCommand } from "../src/domain/order/index.js"
import { benchAuth, withBenchAuth } from "./lib/auth.js"
import { freshDatabase } from "./lib/database.js"
import { withProgress } from "./lib/progress.js"
import { markdownTable, runBenchmark } from "./lib/report.js"
import { percentiles, perSecond, ratio } from "./lib/stats.js"

export interface CommandsBenchSettings {
  readonly commands: number
  readonly clients: number
  readonly aggregates: number
  readonly quiet: boolean
}

export type Scenario = "spread" | "hot"
export type Mode = "runtime" | "http" | "baseline"

export interface CommandsRow {
  readonly scenario: Scenario
  readonly mode: Mode
  readonly commands: number
  readonly seconds: number
  readonly perSecond: number
  readonly p50Ms: number
  readonly p95Ms: number
  readonly p99Ms: number
}

const at = "2026-01-01T00:00:00.000Z"

/** Runs `send(client, i)` `total` times from `clients` concurrent loops; latency per call. */
const drive = <E, R>(
  title: string,
  total: number,
  clients: number,
  quiet: boolean,
  send: (client: number, i: number) => Effect.Effect<void, E, R>
) =>
  withProgress(title, total, quiet, (progress) =>
    Effect.gen(function*() {
      const latencies: Array<number> = []
      let next = 0
      const started = performance.now()
      yield* Effect.forEach(Array.from({ length: clients }, (_, client) => client), (client) =>
        Effect.gen(function*() {
          for (let i = 0;; i++) {
            if (next >= total) return
            next++
            const begun = performance.now()
            yield* send(client, i)
            latencies.push(performance.now() - begun)
            if (latencies.length % 500 === 0) progress.update(latencies.length, { unit: "commands", detail: "" })
          }
        }), { concurrency: "unbounded", discard: true })
      const millis = performance.now() - started
      progress.update(total, { unit: "commands", detail: `${perSecond(total, millis)}/s` })
      return { millis, latencies }
    }))

const row = (scenario: Scenario, mode: Mode, result: { millis: number; latencies: ReadonlyArray<number> }): CommandsRow => {
  const { p50Ms, p95Ms, p99Ms, samples } = percentiles(result.latencies)
  return {
    scenario,
    mode,
    commands: samples,
    seconds: Number((result.millis / 1000).toFixed(2)),
    perSecond: perSecond(samples, result.millis),
    p50Ms,
    p95Ms,
    p99Ms
  }
}

/** A client's next command on an order: add its own SKU, then remove it, and so on. */
const commandFor = (client: number, i: number) =>
  i % 2 === 0
    ? OrderCommand.AddItem({ sku: `client-${client}`, quantity: 1, unitPriceCents: 250, at })
    : OrderCommand.RemoveItem({ sku: `client-${client}`, at })

const bodyFor = (client: number, i: number) =>
  i % 2 === 0
    ? { path: "items", method: "POST", body: JSON.stringify({ sku: `client-${client}`, quantity: 1, unitPriceCents: 250 }) }
    : { path: `items/client-${client}`, method: "DELETE", body: undefined }

export const runCommandsBench = (options: CommandsBenchSettings) =>
  Effect.gen(function*() {
    const database = yield* freshDatabase("commands")
    // Through HTTP, a customer's commands on their own orders: the token is verified on each.
    const auth = yield* benchAuth("commands")
    const config = Layer.effect(
      AppConfig,
      Effect.map(AppConfig, (base) => ({
        ...withBenchAuth(base, auth),
        database: { ...base.database, url: Redacted.make(database.url), maxConnections: 20 },
        http: { ...base.http, port: 0 }
      }))
    ).pipe(Layer.provide(AppConfig.layer))

    const rows = yield* Effect.gen(function*() {
      const orders = yield* OrderActors
      const server = yield* HttpServer.HttpServer
      const base = server.address._tag === "TcpAddress" ? `http://127.0.0.1:${server.address.port}` : ""
      const place = () =>
        Effect.gen(function*() {
          const id = randomUUID()
          yield* orders.execute(id, OrderCommand.PlaceOrder({
            customerId: auth.customerId,
            currency: "EUR",
            lines: [{ sku: "base", quantity: 1, unitPriceCents: 1000 }],
            at
          }), { metadata: { correlationId: randomUUID(), causationId: null, userId: "bench" } })
          return id
        })
      const spread = yield* Effect.forEach(Array.from({ length: options.aggregates }), place, { concurrency: 16 })
      const hot = yield* place()
      // A client's add and the remove after it go to the same order.
      const orderOf = (scenario: Scenario, client: number, i: number) =>
        scenario === "hot" ? hot : spread[(client + Math.floor(i / 2) * options.clients) % spread.length]!

      const results: Array<CommandsRow> = []
      for (const scenario of ["spread", "hot"] as const) {
        const runtime = yield* drive(`${scenario}: runtime`, options.commands, options.clients, options.quiet, (client, i) =>
          Effect.asVoid(Effect.orDie(
            orders.execute(orderOf(scenario, client, i), commandFor(client, i), {
              metadata: { correlationId: randomUUID(), causationId: null, userId: "bench" }
            })
          )))
        results.push(row(scenario, "runtime", runtime))
        const http = yield* drive(`${scenario}: HTTP`, options.commands, options.clients, options.quiet, (client, i) =>
          Effect.promise(async () => {
            const request = bodyFor(client, i + 1_000_000)
            const response = await fetch(`${base}/orders/${orderOf(scenario, client, i)}/${request.path}`, {
              method: request.method,
              headers: { ...auth.headers, ...(request.body === undefined ? {} : { "content-type": "application/json" }) },
              ...(request.body === undefined ? {} : { body: request.body })
            })
            await response.arrayBuffer()
            if (response.status !== 200) throw new Error(`HTTP ${response.status}`)
          }))
        results.push(row(scenario, "http", http))
      }
      return results
    }).pipe(Effect.provide(Layer.merge(HttpLive, RuntimeLive).pipe(Layer.provide(config))), Effect.scoped)

    // The baseline: bare single-row INSERT transactions of an event-sized row, same concurrency.
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const pool = new pg.Pool({ connectionString: database.url, max: 20 })
        // An idle connection that the server ends (the database is dropped at the end) is no failure here.
        pool.on("error", () => undefined)
        return pool
      }),
      (pool) => Effect.promise(() => pool.end())
    )
    yield* Effect.promise(() =>
      pool.query("CREATE TABLE baseline_inserts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, stream_id text, payload jsonb, metadata jsonb)")
    )
    const payload = JSON.stringify({ sku: "client-1", quantity: 1, unitPriceCents: 250 })
    for (const scenario of ["spread", "hot"] as const) {
      const baseline = yield* drive(`${scenario}: bare INSERTs (baseline)`, options.commands, options.clients, options.quiet, (client, i) =>
        Effect.promise(() =>
          pool.query("INSERT INTO baseline_inserts (stream_id, payload, metadata) VALUES ($1, $2, $3)", [
            scenario === "hot" ? "hot" : `order-${(client + i * options.clients) % options.aggregates}`,
            payload,
            JSON.stringify({ correlationId: randomUUID(), causationId: null, userId: "bench" })
          ])
        ))
      rows.push(row(scenario, "baseline", baseline))
    }
    return rows
  }).pipe(Effect.scoped)

export const commandsMarkdown = (options: CommandsBenchSettings, rows: ReadonlyArray<CommandsRow>) => {
  const find = (scenario: Scenario, mode: Mode) => rows.find((r) => r.scenario === scenario && r.mode === mode)!
  return [
    `### Commands: ${options.clients} concurrent clients, ${options.commands} commands per run`,
    "",
    markdownTable(
      ["load", "through", "commands/s", "p50 ms", "p95 ms", "p99 ms", "÷ bare INSERTs"],
      (["spread", "hot"] as const).flatMap((scenario) =>
        (["runtime", "http", "baseline"] as const).map((mode) => {
          const r = find(scenario, mode)
          return [
            scenario === "spread" ? `${options.aggregates} orders` : "one hot order",
            mode === "baseline" ? "bare INSERT transactions" : mode === "http" ? "HTTP" : "runtime",
            r.perSecond,
            r.p50Ms,
            r.p95Ms,
            r.p99Ms,
            ratio(r.perSecond, find(scenario, "baseline").perSecond)
          ]
        })
      )
    )
  ].join("\n")
}

const main = Effect.gen(function*() {
  const { values } = parseArgs({
    options: {
      commands: { type: "string", default: "20000" },
      clients: { type: "string", default: "64" },
      aggregates: { type: "string", default: "1000" }
    }
  })
  const options: CommandsBenchSettings = {
    commands: Number(values.commands),
    clients: Number(values.clients),
    aggregates: Number(values.aggregates),
    quiet: false
  }
  const rows = yield* runCommandsBench(options)
  return { settings: { ...options }, rows, markdown: commandsMarkdown(options, rows) }
})

if (import.meta.url === `file://${process.argv[1]}`) runBenchmark("commands", main)
