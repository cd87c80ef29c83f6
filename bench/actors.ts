/**
 * `make bench-actors`: what cached aggregates cost. A real `serve` process (compiled, as `make run`
 * starts it) is measured idle, then with `--sizes` orders cached — each loaded once by a GET with the
 * token of their customer — by its resident memory and V8 heap (read from /metrics on its ops port).
 * *Floor*, same run: the same order states as plain objects in a Map, in the benchmark's own process
 * (its heap grows by what the states alone take).
 *
 *   node --expose-gc --import tsx bench/actors.ts [--sizes 10000,100000] [--settle 5]
 */
import { Effect, Either } from "effect"
import { randomUUID } from "node:crypto"
import { parseArgs } from "node:util"
import pg from "pg"
import { orderAggregate, OrderCommand, type OrderState } from "../src/domain/order/index.js"
import { freeLocalPort, waitReady } from "./http.js"
import { benchAuth } from "./lib/auth.js"
import { freshDatabase } from "./lib/database.js"
import { runPrefix } from "./lib/brokers.js"
import { startBuiltCli } from "./lib/processes.js"
import { withProgress } from "./lib/progress.js"
import { markdownTable, runBenchmark } from "./lib/report.js"

export interface ActorsBenchSettings {
  readonly sizes: ReadonlyArray<number>
  /** Seconds to let the process settle (and collect garbage) before each reading. */
  readonly settleSeconds: number
  readonly quiet: boolean
}

export interface ActorsRow {
  readonly cached: number
  readonly rssMiB: number
  readonly heapMiB: number
  /** Above the idle process, per cached order. */
  readonly rssPerOrderKiB: number
  readonly heapPerOrderKiB: number
  /** The same states as plain objects in a Map: heap per order. */
  readonly floorHeapPerOrderKiB: number
}

const mib = (bytes: number) => Number((bytes / 2 ** 20).toFixed(1))
const kib = (bytes: number) => Number((bytes / 1024).toFixed(2))

/**
 * The event every cached order has: placed with two lines, as a real one, by `customerId` (the
 * benchmark's customer, whose token reads them back).
 */
const placed = (customerId: string) => {
  const state = orderAggregate.initialState
  const decided = orderAggregate.decide(OrderCommand.PlaceOrder({
    customerId,
    currency: "EUR",
    lines: [{ sku: "sku-1", quantity: 2, unitPriceCents: 1250 }, { sku: "sku-2", quantity: 1, unitPriceCents: 399 }],
    at: "2026-01-01T00:00:00.000Z"
  }), state)
  if (Either.isLeft(decided)) throw new Error(decided.left.message)
  return decided.right[0]!
}

/** Writes `count` orders of `customerId` straight into the store, in one statement; gives their ids. */
const writeOrders = (url: string, customerId: string, count: number) =>
  Effect.acquireUseRelease(
    Effect.promise(async () => {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      return client
    }),
    (client) =>
      Effect.promise(async () => {
        const stored = orderAggregate.events.encode(placed(customerId))
        const result = await client.query<{ stream_id: string }>(
          `INSERT INTO events (stream_id, stream_type, version, event_id, event_type, schema_version, payload, metadata)
           SELECT gen_random_uuid()::text, 'order', 1, gen_random_uuid(), $1, $2, $3::jsonb, '{"correlationId":"bench","causationId":null,"userId":null}'
           FROM generate_series(1, $4) RETURNING stream_id`,
          [stored.type, stored.schemaVersion, JSON.stringify(stored.data), count]
        )
        return result.rows.map((row) => row.stream_id)
      }),
    (client) => Effect.promise(() => client.end())
  )

/** The process's memory as its /metrics (on the ops port) tells it. */
const memoryOf = (opsUrl: string) =>
  Effect.promise(async () => {
    const text = await (await fetch(`${opsUrl}/metrics`)).text()
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN)
    return { rss: value("process_resident_memory_bytes"), heap: value("nodejs_heap_used_bytes") }
  })

/** The heap the same states take as plain objects in a Map, per order (needs --expose-gc). */
const floorHeapPerOrder = (count: number) =>
  Effect.sync(() => {
    const gc = (globalThis as { gc?: () => void }).gc
    gc?.()
    const before = process.memoryUsage().heapUsed
    const event = orderAggregate.events.encode(placed(randomUUID()))
    const cache = new Map<string, { state: OrderState; version: number }>()
    for (let i = 0; i < count; i++) {
      // Parsed afresh, as each actor's state is: no sharing between orders.
      const decoded = orderAggregate.events.decode(JSON.parse(JSON.stringify(event)))
      if (Either.isLeft(decoded)) throw new Error(decoded.left.reason)
      cache.set(randomUUID(), { state: orderAggregate.evolve(orderAggregate.initialState, decoded.right), version: 1 })
    }
    gc?.()
    const perOrder = (process.memoryUsage().heapUsed - before) / count
    cache.clear()
    return perOrder
  })

export const runActorsBench = (options: ActorsBenchSettings) =>
  Effect.gen(function*() {
    const largest = Math.max(...options.sizes)
    const database = yield* freshDatabase("actors")
    const { prefix } = yield* runPrefix("actors")
    const auth = yield* benchAuth("actors")
    const [port, opsPort] = [yield* freeLocalPort, yield* freeLocalPort]
    const service = yield* startBuiltCli(["serve"], {
      DATABASE_URL: database.url,
      PORT: String(port),
      OPS_PORT: String(opsPort),
      MESSAGING_PREFIX: prefix,
      LOG_LEVEL: "WARN",
      ACTOR_MAX_LIVE: String(largest + 1),
      ACTOR_IDLE_TIMEOUT: "1 hour",
      ...auth.env
    })
    const base = `http://127.0.0.1:${port}`
    const opsUrl = `http://127.0.0.1:${opsPort}`
    yield* waitReady(`${base}/ready`, 60_000, service)
    const settle = Effect.sleep(`${options.settleSeconds} seconds`)
    yield* settle
    const idle = yield* memoryOf(opsUrl)

    const ids = yield* writeOrders(database.url, auth.customerId, largest)
    const rows: Array<ActorsRow> = []
    let loaded = 0
    for (const size of [...options.sizes].sort((a, b) => a - b)) {
      yield* withProgress(`caching ${size} orders`, size, options.quiet, (progress) =>
        Effect.forEach(ids.slice(loaded, size), (id) =>
          Effect.promise(async () => {
            const response = await fetch(`${base}/orders/${id}`, { headers: auth.headers })
            await response.arrayBuffer()
            if (response.status !== 200) throw new Error(`GET /orders/${id}: HTTP ${response.status}`)
            if (++loaded % 500 === 0) progress.update(loaded, { unit: "orders", detail: "" })
          }), { concurrency: 32, discard: true }))
      yield* settle
      const memory = yield* memoryOf(opsUrl)
      rows.push({
        cached: size,
        rssMiB: mib(memory.rss),
        heapMiB: mib(memory.heap),
        rssPerOrderKiB: kib((memory.rss - idle.rss) / size),
        heapPerOrderKiB: kib((memory.heap - idle.heap) / size),
        floorHeapPerOrderKiB: kib(yield* floorHeapPerOrder(size))
      })
    }
    return { idle: { rssMiB: mib(idle.rss), heapMiB: mib(idle.heap) }, rows }
  }).pipe(Effect.scoped)

export const actorsMarkdown = (result: Effect.Effect.Success<ReturnType<typeof runActorsBench>>) =>
  [
    `### Cached actors: memory of one serve process`,
    "",
    markdownTable(
      ["cached orders", "RSS MiB", "heap MiB", "RSS above idle, KiB per order", "heap above idle, KiB per order", "floor: the states alone, KiB per order"],
      [
        ["0 (idle)", result.idle.rssMiB, result.idle.heapMiB, "—", "—", "—"],
        ...result.rows.map((row) => [
          row.cached,
          row.rssMiB,
          row.heapMiB,
          row.rssPerOrderKiB,
          row.heapPerOrderKiB,
          row.floorHeapPerOrderKiB
        ])
      ]
    ),
    "",
    "Each order is loaded into its actor by one GET and stays cached (ACTOR_IDLE_TIMEOUT 1 hour). The heap includes garbage " +
    "not yet collected; the floor is measured after a full collection."
  ].join("\n")

const main = Effect.gen(function*() {
  const { values } = parseArgs({
    options: { sizes: { type: "string", default: "10000,100000" }, settle: { type: "string", default: "5" } }
  })
  const options: ActorsBenchSettings = { sizes: values.sizes.split(",").map(Number), settleSeconds: Number(values.settle), quiet: false }
  const result = yield* runActorsBench(options)
  return { settings: { ...options }, rows: [{ cached: 0, ...result.idle }, ...result.rows], markdown: actorsMarkdown(result) }
})

if (import.meta.url === `file://${process.argv[1]}`) runBenchmark("actors", main)
