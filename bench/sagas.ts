/**
 * `make bench-sagas`: the fulfilment saga's own figure — orders fulfilled per second and the time
 * from an order's confirmation to its payment being recorded — beside a floor measured in the same run.
 *
 * 1. The saga. One `serve` (compiled, a fresh database, relay and projector left out so that the
 *    saga's path is what is measured) with the process manager on, and the local payment provider in
 *    this process. A few SKUs are stocked out of reach of the run. Then, at each offered rate, orders
 *    of two lines are placed, confirmed and paid at once by the benchmark's clients over HTTP (an open
 *    loop: each order is due at its time, whatever happened to the ones before it). Per rate: the
 *    orders that reached OrderPaid within the window, per second; confirm → paid from the events' own
 *    recorded times (OrderConfirmed's and OrderPaid's `recorded_at`, both on the database's clock, no
 *    polling); and the orders whose payment was accepted but not recorded by the end of the drain.
 * 2. The floor. Another `serve` on a database of its own with PROCESS_MANAGER=false: the same three
 *    commands per order (place, confirm, pay → 202; nothing fulfils them) in a closed loop with the
 *    same number of clients: the orders per second the runtime accepts. A rate's fulfilled/s is given
 *    as a ratio of it, and the serving process's CPU time per order is given for both.
 *
 *   node --import tsx bench/sagas.ts [--rates 5,10,20,40] [--seconds 10] [--warmup 3] [--drain 120] [--clients 32] [--skus 4]
 */
import { Effect } from "effect"
import { writeFileSync } from "node:fs"
import { cpus } from "node:os"
import path from "node:path"
import { parseArgs } from "node:util"
import pg from "pg"
import { categoryStreams, streamIdOf } from "../src/domain/aggregate.js"
import { orderAggregate } from "../src/domain/order/index.js"
import { MAX_ON_HAND } from "../src/domain/inventory/values.js"
import { startDevPaymentProvider } from "../src/payments/DevPaymentProvider.js"
import { freeLocalPort, waitReady } from "./http.js"
import { type BenchAuth, benchAuth, headersFor } from "./lib/auth.js"
import { runPrefix } from "./lib/brokers.js"
import { logLogChart } from "./lib/chart.js"
import { freshDatabase } from "./lib/database.js"
import { cpuSeconds, startBuiltCli } from "./lib/processes.js"
import { type Progress, withProgress } from "./lib/progress.js"
import { type BenchmarkResult, markdownTable, resultsDirectory, runBenchmark } from "./lib/report.js"
import { percentiles, type Percentiles, ratio } from "./lib/stats.js"

export interface SagasBenchSettings {
  /** Offered rates, orders per second, one after another on the same service. */
  readonly rates: ReadonlyArray<number>
  /** The measured window of each rate, and of the floor. */
  readonly seconds: number
  /** Seconds before each window whose orders are sent but not measured. */
  readonly warmupSeconds: number
  /** How long after a rate's last order its orders may take to be paid before the rest count as not paid. */
  readonly drainSeconds: number
  /** HTTP clients, each sending one request at a time: for the rates and for the floor's closed loop. */
  readonly clients: number
  /** SKUs stocked; each order has two lines of two of them. */
  readonly skus: number
  readonly quiet: boolean
}

/** One offered rate, through the saga. */
export interface RateRow extends Percentiles {
  readonly kind: "saga"
  readonly offeredPerSecond: number
  /** Orders of the window whose payment was accepted (202), per second of the window. */
  readonly acceptedPerSecond: number
  /** OrderPaid events recorded within the window, per second. */
  readonly fulfilledPerSecond: number
  /** fulfilledPerSecond ÷ the floor's orders per second. */
  readonly ofFloor: number
  /**
   * Confirm → paid in parts (p50 each): confirmed → its saga started (the feed); → its last
   * reservation (reading the order, reserving each line); → OrderPaid (authorize, capture, record).
   */
  readonly feedP50Ms: number
  readonly reserveP50Ms: number
  readonly payP50Ms: number
  /** Orders of the rate (warm-up included) whose payment was accepted. */
  readonly accepted: number
  /** Of those, the ones with no OrderPaid at the end of the drain. */
  readonly unpaid: number
  /** From the rate's last order sent until every one was paid (or the drain ran out). */
  readonly drainSeconds: number
  /** Requests not answered as expected (201, 200, 202), or not answered: the order was left there. */
  readonly failedRequests: number
  /** How late the clients began orders of the window (p99): above a few ms, they did not keep up. */
  readonly sentLateP99Ms: number
  /** Place, confirm and pay of one order, answered, as the client saw them (p50 / p99). */
  readonly requestsP50Ms: number
  readonly requestsP99Ms: number
  /** Events of every stream recorded within the window ÷ the orders fulfilled in it. */
  readonly eventsPerOrder: number
  /** The serving process's CPU time over the window ÷ the orders fulfilled in it. */
  readonly cpuSecondsPerOrder: number
  /** The same CPU time as a share of one core. */
  readonly serverCpuShare: number
}

/** The floor: the same commands with no saga, closed loop. */
export interface FloorRow {
  readonly kind: "floor"
  readonly clients: number
  /** Orders placed, confirmed and paid (202) within the window, per second. */
  readonly ordersPerSecond: number
  readonly orders: number
  readonly failedRequests: number
  readonly requestsP50Ms: number
  readonly requestsP99Ms: number
  /** Events recorded within the window ÷ the orders accepted in it (3: placed, confirmed, payment requested). */
  readonly eventsPerOrder: number
  readonly cpuSecondsPerOrder: number
  readonly serverCpuShare: number
}

export type SagasRow = FloorRow | RateRow

const skuName = (i: number) => `bench-sku-${i}`

/** Two lines of two SKUs taken in turn; 1,250 + 2 × 399 cents. */
const linesOf = (n: number, skus: number) => [
  { sku: skuName(n % skus), quantity: 1, unitPriceCents: 1250 },
  { sku: skuName((n + 1) % skus), quantity: 2, unitPriceCents: 399 }
]
const totalCents = 1250 + 2 * 399

interface Target {
  readonly url: string
  readonly auth: BenchAuth
  readonly skus: number
}

interface Answer {
  readonly status: number
  readonly text: string
}

/** One request; a broken connection or no answer within 30 s is status 0. */
const send = async (url: string, method: string, headers: Record<string, string>, body?: unknown): Promise<Answer> => {
  try {
    const response = await fetch(url, {
      method,
      headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000)
    })
    return { status: response.status, text: await response.text() }
  } catch (error) {
    return { status: 0, text: String(error) }
  }
}

/** What became of one order's three requests. */
interface OrderOutcome {
  /** Set once its payment was accepted. */
  readonly orderId: string | undefined
  /** What the request that failed was told (the order goes no further). */
  readonly failure: string | undefined
  readonly millis: number
}

/** Places, confirms and pays the `n`th order of the run, one request after another. */
const placeConfirmPay = async (target: Target, n: number): Promise<OrderOutcome> => {
  const began = performance.now()
  const done = (orderId: string | undefined, failure?: string): OrderOutcome => ({
    orderId,
    failure,
    millis: performance.now() - began
  })
  const headers = { ...target.auth.headers }
  const placed = await send(`${target.url}/orders`, "POST", headers, {
    customerId: target.auth.customerId,
    currency: "EUR",
    lines: linesOf(n, target.skus)
  })
  if (placed.status !== 201) return done(undefined, `POST /orders: ${placed.status} ${placed.text}`)
  const orderId = (JSON.parse(placed.text) as { orderId: string }).orderId
  const confirmed = await send(`${target.url}/orders/${orderId}/confirm`, "POST", headers)
  if (confirmed.status !== 200) return done(undefined, `POST /orders/{id}/confirm: ${confirmed.status} ${confirmed.text}`)
  const paid = await send(`${target.url}/orders/${orderId}/pay`, "POST", headers, { amountCents: totalCents, method: "card" })
  if (paid.status !== 202) return done(undefined, `POST /orders/{id}/pay: ${paid.status} ${paid.text}`)
  return done(orderId)
}

interface SentOrder extends OrderOutcome {
  /** When it was due (epoch ms). */
  readonly dueAt: number
  /** How long after that its client began it. */
  readonly lateMs: number
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** Calls `sample` at each epoch-ms moment; gives what each call returned, once all have run. */
const sampleAt = <A>(moments: ReadonlyArray<number>, sample: () => A) =>
  Promise.all(moments.map((moment) => sleep(Math.max(0, moment - Date.now())).then(sample)))

/**
 * An open loop: order `n` is due `n / rate` seconds after the start, and the next free client begins
 * it then (late only when every client is busy: what `lateMs` shows).
 */
const offeredLoad = (
  target: Target,
  rate: number,
  seconds: number,
  clients: number,
  /** Epoch ms: when the first order is due. */
  start: number,
  onSent: (order: SentOrder) => void
) =>
  Effect.promise(async () => {
    const total = Math.round(rate * seconds)
    let next = 0
    const client = async () => {
      for (;;) {
        const n = next++
        if (n >= total) return
        const dueAt = start + (n / rate) * 1000
        const wait = dueAt - Date.now()
        if (wait > 0) await sleep(wait)
        const lateMs = Date.now() - dueAt
        onSent({ dueAt, lateMs, ...(await placeConfirmPay(target, n)) })
      }
    }
    await Promise.all(Array.from({ length: clients }, client))
  })

/** Runs `use` with a plain pg client on the database, closed after. */
const withClient = <A>(url: string, use: (client: pg.Client) => Promise<A>) =>
  Effect.promise(async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      return await use(client)
    } finally {
      await client.end()
    }
  })

/** OrderPaid events recorded in [from, to) (epoch ms; the database's clock is this machine's). */
const paidBetween = (client: pg.Client, from: number, to: number) =>
  client.query<{ paid: number }>(
    `SELECT count(*)::int AS paid FROM events
     WHERE stream_type = 'order' AND event_type = 'OrderPaid' AND recorded_at >= $1 AND recorded_at < $2`,
    [new Date(from), new Date(to)]
  ).then((result) => result.rows[0]!.paid)

/** Events of every stream recorded in [from, to). */
const eventsBetween = (client: pg.Client, from: number, to: number) =>
  client.query<{ events: number }>(
    `SELECT count(*)::int AS events FROM events WHERE recorded_at >= $1 AND recorded_at < $2`,
    [new Date(from), new Date(to)]
  ).then((result) => result.rows[0]!.events)

/** Of these orders' streams, those with an OrderPaid. */
const paidAmong = (client: pg.Client, streams: ReadonlyArray<string>) =>
  client.query<{ paid: number }>(
    `SELECT count(DISTINCT stream_id)::int AS paid FROM events WHERE stream_id = ANY($1::text[]) AND event_type = 'OrderPaid'`,
    [streams]
  ).then((result) => result.rows[0]!.paid)

/** The saga's stream of an order (its saga's id is the order's). */
const sagaStream = categoryStreams("fulfilment")

/**
 * For each of these orders that was paid, in ms, from the events' recorded_at: confirm → paid, and
 * its parts — confirmed → its saga started (the feed), → its last reservation recorded (reading the
 * order, reserving each line), → OrderPaid (authorize, capture, record the payment on the order).
 */
const confirmToPaid = (client: pg.Client, orderIds: ReadonlyArray<string>) =>
  client.query<{ total: string; feed: string | null; reserve: string | null; pay: string | null }>(
    `SELECT extract(epoch FROM o.paid - o.confirmed) * 1000 AS total,
            extract(epoch FROM s.started - o.confirmed) * 1000 AS feed,
            extract(epoch FROM s.reserved - s.started) * 1000 AS reserve,
            extract(epoch FROM o.paid - s.reserved) * 1000 AS pay
     FROM unnest($1::text[], $2::text[]) AS m(order_stream, saga_stream)
     CROSS JOIN LATERAL (
       SELECT min(recorded_at) FILTER (WHERE event_type = 'OrderConfirmed') AS confirmed,
              min(recorded_at) FILTER (WHERE event_type = 'OrderPaid') AS paid
       FROM events WHERE stream_id = m.order_stream AND event_type IN ('OrderConfirmed', 'OrderPaid')) o
     CROSS JOIN LATERAL (
       SELECT min(recorded_at) FILTER (WHERE event_type = 'SagaStarted') AS started,
              max(recorded_at) FILTER (WHERE event_type = 'StepSucceeded' AND payload->>'step' LIKE 'reserve:%') AS reserved
       FROM events WHERE stream_id = m.saga_stream AND event_type IN ('SagaStarted', 'StepSucceeded')) s
     WHERE o.paid IS NOT NULL AND o.confirmed IS NOT NULL`,
    [orderIds.map((id) => streamIdOf(orderAggregate, id)), orderIds.map(sagaStream)]
  ).then((result) => result.rows)

/** A `serve` on a fresh database, relay and projector left out; the saga on when a provider is given. */
const startService = (name: string, auth: BenchAuth, prefix: string, paymentProviderUrl: string | undefined) =>
  Effect.gen(function*() {
    const database = yield* freshDatabase(name)
    const port = yield* freeLocalPort
    const service = yield* startBuiltCli(["serve"], {
      ...auth.env,
      DATABASE_URL: database.url,
      PORT: String(port),
      MESSAGING_PREFIX: prefix,
      HTTP_ACCESS_LOG: "none",
      LOG_LEVEL: "WARN",
      OUTBOX_RELAY: "false",
      PROJECTOR: "false",
      PROCESS_MANAGER: String(paymentProviderUrl !== undefined),
      ...(paymentProviderUrl === undefined ? {} : { PAYMENT_PROVIDER_URL: paymentProviderUrl })
    })
    const url = `http://127.0.0.1:${port}`
    yield* waitReady(`${url}/ready`, 60_000, service)
    return { database, service, url }
  })

/** Logs a few of the failures, so that a run that failed requests says why. */
const reportFailures = (where: string, failures: ReadonlyArray<string>) =>
  failures.length === 0
    ? Effect.void
    : Effect.logWarning(`${where}: ${failures.length} orders failed; the first: ${[...new Set(failures)].slice(0, 3).join(" | ")}`)

const requestPercentiles = (orders: ReadonlyArray<OrderOutcome>) => {
  const { p50Ms, p99Ms } = percentiles(orders.filter((order) => order.orderId !== undefined).map((order) => order.millis))
  return { requestsP50Ms: Math.round(p50Ms), requestsP99Ms: Math.round(p99Ms) }
}

/** The same three commands per order with no saga, `clients` clients one order after another. */
const floor = (settings: SagasBenchSettings, auth: BenchAuth, prefix: string) =>
  Effect.scoped(Effect.gen(function*() {
    const { database, service, url } = yield* startService("sagas_floor", auth, prefix, undefined)
    const target: Target = { url, auth, skus: settings.skus }
    const total = settings.warmupSeconds + settings.seconds
    return yield* withProgress("floor: no saga, closed loop", total, settings.quiet, (progress) =>
      Effect.gen(function*() {
        const { orders, cpu, from, to } = yield* Effect.promise(async () => {
          const start = Date.now()
          const from = start + settings.warmupSeconds * 1000
          const to = from + settings.seconds * 1000
          const orders: Array<OrderOutcome & { readonly endedAt: number; readonly beganAt: number }> = []
          let n = 0
          const client = async () => {
            while (Date.now() < to) {
              const beganAt = Date.now()
              const outcome = await placeConfirmPay(target, n++)
              orders.push({ ...outcome, beganAt, endedAt: Date.now() })
              progress.update(Math.min(total, Math.floor((Date.now() - start) / 1000)), { unit: "s", detail: `${orders.length} orders` })
            }
          }
          const [[cpu]] = await Promise.all([
            sampleAt([from, to], () => cpuSeconds(service.pid)).then(([before, after]) => [after! - before!]),
            Promise.all(Array.from({ length: settings.clients }, client))
          ])
          return { orders: orders.filter((order) => order.endedAt >= from && order.endedAt < to), cpu: cpu!, from, to }
        })
        const accepted = orders.filter((order) => order.orderId !== undefined).length
        const failures = orders.flatMap((order) => order.failure === undefined ? [] : [order.failure])
        yield* reportFailures("floor", failures)
        const events = yield* withClient(database.url, (client) => eventsBetween(client, from, to))
        const row: FloorRow = {
          kind: "floor",
          clients: settings.clients,
          ordersPerSecond: Math.round(accepted / settings.seconds),
          orders: accepted,
          failedRequests: failures.length,
          ...requestPercentiles(orders),
          eventsPerOrder: Number((events / Math.max(1, accepted)).toFixed(1)),
          cpuSecondsPerOrder: Number((cpu / Math.max(1, accepted)).toFixed(5)),
          serverCpuShare: Number((cpu / settings.seconds).toFixed(2))
        }
        return row
      }))
  }))

/** One offered rate through the saga: sent, measured, drained. */
const offered = (
  settings: SagasBenchSettings,
  target: Target,
  databaseUrl: string,
  servicePid: number,
  rate: number,
  floorRow: FloorRow,
  progress: Progress
) =>
  Effect.gen(function*() {
    const sent: Array<SentOrder> = []
    const total = Math.round(rate * (settings.warmupSeconds + settings.seconds))
    const start = Date.now()
    const from = start + settings.warmupSeconds * 1000
    const to = from + settings.seconds * 1000
    const [cpu] = yield* Effect.all([
      Effect.promise(() => sampleAt([from, to], () => cpuSeconds(servicePid)).then(([before, after]) => after! - before!)),
      offeredLoad(target, rate, settings.warmupSeconds + settings.seconds, settings.clients, start, (order) => {
        sent.push(order)
        progress.update(sent.length, { unit: "orders", detail: `${rate}/s: sending` })
      })
    ], { concurrency: "unbounded" })
    const lastSent = Date.now()
    const accepted = sent.filter((order) => order.orderId !== undefined)
    const streams = accepted.map((order) => streamIdOf(orderAggregate, order.orderId!))
    const window = accepted.filter((order) => order.dueAt >= from)
    const failures = sent.flatMap((order) => order.failure === undefined ? [] : [order.failure])
    yield* reportFailures(`${rate} orders/s`, failures)

    // Until every accepted order is paid, or the drain runs out.
    const paid = yield* withClient(databaseUrl, async (client) => {
      for (;;) {
        const paid = await paidAmong(client, streams)
        progress.update(total, { unit: "orders", detail: `${rate}/s: ${paid}/${accepted.length} paid` })
        if (paid >= accepted.length || Date.now() - lastSent > settings.drainSeconds * 1000) return paid
        await sleep(250)
      }
    })
    const drainSeconds = (Date.now() - lastSent) / 1000
    const { fulfilled, events, latencies } = yield* withClient(databaseUrl, async (client) => ({
      fulfilled: await paidBetween(client, from, to),
      events: await eventsBetween(client, from, to),
      latencies: await confirmToPaid(client, window.map((order) => order.orderId!))
    }))
    const partP50 = (part: "feed" | "reserve" | "pay") =>
      Math.round(percentiles(latencies.flatMap((row) => row[part] === null ? [] : [Number(row[part])])).p50Ms)
    const fulfilledPerSecond = Number((fulfilled / settings.seconds).toFixed(1))
    const row: RateRow = {
      kind: "saga",
      offeredPerSecond: rate,
      acceptedPerSecond: Number((window.length / settings.seconds).toFixed(1)),
      fulfilledPerSecond,
      ofFloor: ratio(fulfilledPerSecond, floorRow.ordersPerSecond),
      ...percentiles(latencies.map((row) => Number(row.total))),
      feedP50Ms: partP50("feed"),
      reserveP50Ms: partP50("reserve"),
      payP50Ms: partP50("pay"),
      accepted: accepted.length,
      unpaid: accepted.length - paid,
      drainSeconds: Number(drainSeconds.toFixed(1)),
      failedRequests: failures.length,
      sentLateP99Ms: Math.round(percentiles(sent.filter((order) => order.dueAt >= from).map((order) => order.lateMs)).p99Ms || 0),
      ...requestPercentiles(sent.filter((order) => order.dueAt >= from)),
      eventsPerOrder: Number((events / Math.max(1, fulfilled)).toFixed(1)),
      cpuSecondsPerOrder: Number((cpu / Math.max(1, fulfilled)).toFixed(5)),
      serverCpuShare: Number((cpu / settings.seconds).toFixed(2))
    }
    return row
  })

/** The floor, then every rate through the saga; each in a database of its own, all removed at the end. */
export const runSagasBench = (settings: SagasBenchSettings) =>
  Effect.gen(function*() {
    if (settings.skus < 2) return yield* Effect.dieMessage("--skus: at least 2 (each order has lines of two SKUs)")
    const auth = yield* benchAuth("sagas")
    const { prefix } = yield* runPrefix("sagas")
    const floorRow = yield* floor(settings, auth, prefix)
    const rows = yield* Effect.scoped(Effect.gen(function*() {
      const provider = yield* Effect.acquireRelease(
        Effect.promise(() => startDevPaymentProvider({ port: 0 })),
        (provider) => Effect.promise(() => provider.close())
      )
      const { database, service, url } = yield* startService("sagas", auth, prefix, provider.url)
      // Stock out of reach of the run: a reservation holds stock until the order ships, and none ships here.
      const staff = yield* headersFor(auth, "staff")
      for (let i = 0; i < settings.skus; i++) {
        const stocked = yield* Effect.promise(() => send(`${url}/inventory/${skuName(i)}`, "PUT", staff, { onHand: MAX_ON_HAND }))
        if (stocked.status !== 200) return yield* Effect.dieMessage(`stocking ${skuName(i)}: ${stocked.status} ${stocked.text}`)
      }
      const target: Target = { url, auth, skus: settings.skus }
      return yield* Effect.forEach(settings.rates, (rate) =>
        withProgress(`saga at ${rate} orders/s`, Math.round(rate * (settings.warmupSeconds + settings.seconds)), settings.quiet, (progress) =>
          offered(settings, target, database.url, service.pid, rate, floorRow, progress)))
    }))
    return [floorRow, ...rows] as ReadonlyArray<SagasRow>
  }).pipe(Effect.scoped)

const ms = (seconds: number) => Number((seconds * 1000).toFixed(1))

export const sagasMarkdown = (settings: SagasBenchSettings, rows: ReadonlyArray<SagasRow>) => {
  const floorRow = rows.find((row): row is FloorRow => row.kind === "floor")!
  const rates = rows.filter((row): row is RateRow => row.kind === "saga")
  return [
    `### Fulfilment saga: orders placed, confirmed and paid by ${settings.clients} clients, ${settings.seconds} s per rate (after ${settings.warmupSeconds} s warm-up)`,
    "",
    markdownTable(
      [
        "orders/s offered",
        "accepted/s",
        "fulfilled/s",
        "÷ floor",
        "confirm → paid p50 / p95 / p99 ms",
        "p50 by part: feed / read + reserve / pay ms",
        "not paid after the drain",
        "failed requests",
        "place + confirm + pay p50 / p99 ms",
        "events per order",
        "serve CPU ms per order",
        "serve CPU"
      ],
      [
        ...rates.map((row) => [
          row.offeredPerSecond,
          row.acceptedPerSecond,
          row.fulfilledPerSecond,
          row.ofFloor,
          `${Math.round(row.p50Ms)} / ${Math.round(row.p95Ms)} / ${Math.round(row.p99Ms)}`,
          `${row.feedP50Ms} / ${row.reserveP50Ms} / ${row.payP50Ms}`,
          `${row.unpaid} of ${row.accepted}`,
          row.failedRequests,
          `${row.requestsP50Ms} / ${row.requestsP99Ms}`,
          row.eventsPerOrder,
          ms(row.cpuSecondsPerOrder),
          `${Math.round(row.serverCpuShare * 100)}%`
        ]),
        [
          `floor: no saga, closed loop`,
          floorRow.ordersPerSecond,
          "—",
          1,
          "—",
          "—",
          "—",
          floorRow.failedRequests,
          `${floorRow.requestsP50Ms} / ${floorRow.requestsP99Ms}`,
          floorRow.eventsPerOrder,
          ms(floorRow.cpuSecondsPerOrder),
          `${Math.round(floorRow.serverCpuShare * 100)}%`
        ]
      ]
    ),
    "",
    "Each order has two lines (of two of " + `${settings.skus} SKUs stocked for the run) and is placed, confirmed and paid at once ` +
    "(POST /orders, /confirm, /pay → 202) at its due time, open loop. *fulfilled/s*: OrderPaid events recorded within " +
    "the window; *confirm → paid*: OrderPaid's recorded_at less OrderConfirmed's (each the start of its append's " +
    "transaction, on the database's clock) for the orders of the window, and its parts from the saga's own events: " +
    "confirmed → saga started (the feed), → last reservation recorded (reading the order, reserving each line), → " +
    "OrderPaid (authorize, capture, record the payment); *not paid*: orders whose payment was accepted " +
    `(warm-up included) with no OrderPaid ${settings.drainSeconds} s after the last was sent. The floor is a second serve ` +
    "with PROCESS_MANAGER=false taking the same three requests per order from as many clients, one order after another: " +
    "the orders/s the runtime accepts. *events per order*: events of every stream (order, saga, payment, stock) recorded " +
    "in the window ÷ the orders fulfilled in it. *serve CPU per order*: its CPU time over the window ÷ the orders " +
    `fulfilled (floor: accepted) in it (100% = one core of ${cpus().length}). Relay and projector are off in both. ` +
    "Orders a rate leaves unpaid are still worked on during the next.",
    "",
    "![confirm → paid against the offered rate](sagas.svg)"
  ].join("\n")
}

export const sagasChart = (rows: ReadonlyArray<SagasRow>) => {
  const rates = rows.filter((row): row is RateRow => row.kind === "saga")
  return logLogChart({
    title: "Fulfilment saga: confirm → paid against the offered rate",
    xLabel: "orders per second offered (log)",
    yLabel: "confirm → paid, ms (log)",
    series: ([["p50Ms", "p50", "#1f77b4"], ["p95Ms", "p95", "#ff7f0e"], ["p99Ms", "p99", "#d62728"]] as const).map((
      [key, name, color]
    ) => ({ name, color, points: rates.map((row) => ({ x: row.offeredPerSecond, y: Math.max(row[key], 0.01) })) }))
  })
}

/** What `runBenchmark` writes: the settings, the rows and the table. */
export const sagasResult = (settings: SagasBenchSettings, rows: ReadonlyArray<SagasRow>): BenchmarkResult => {
  const { quiet: _, ...recorded } = settings
  return { settings: recorded, rows, markdown: sagasMarkdown(settings, rows) }
}

/** The chart beside the result files in `directory`. */
export const writeSagasChart = (rows: ReadonlyArray<SagasRow>, directory = resultsDirectory) =>
  writeFileSync(path.join(directory, "sagas.svg"), sagasChart(rows))

const main = Effect.gen(function*() {
  const { values } = parseArgs({
    options: {
      rates: { type: "string", default: "5,10,20,40" },
      seconds: { type: "string", default: "10" },
      warmup: { type: "string", default: "3" },
      drain: { type: "string", default: "120" },
      clients: { type: "string", default: "32" },
      skus: { type: "string", default: "4" }
    }
  })
  const settings: SagasBenchSettings = {
    rates: values.rates.split(",").map(Number),
    seconds: Number(values.seconds),
    warmupSeconds: Number(values.warmup),
    drainSeconds: Number(values.drain),
    clients: Number(values.clients),
    skus: Number(values.skus),
    quiet: false
  }
  const rows = yield* runSagasBench(settings)
  writeSagasChart(rows)
  return sagasResult(settings, rows)
})

if (import.meta.url === `file://${process.argv[1]}`) runBenchmark("sagas", main)
