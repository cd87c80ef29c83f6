/**
 * The history check: many clients take orders through their lives over HTTP, against two `serve`
 * processes (each with its relay and projector) and a notification worker, while the harness cuts
 * commit replies, makes PostgreSQL half-open, kills processes with SIGKILL and restarts RabbitMQ and
 * Kafka. Both nodes run the fulfilment saga against the local payment provider: a payment asked for
 * is taken by whichever node's process manager gets to it, through the same faults. Clients behave
 * as the README tells them to: every command carries an Idempotency-Key and is retried with it, on
 * either node, after a 503 or a broken connection. Afterwards the whole history is judged, not a
 * count: what each client was told against what the store holds, Kafka's raw sequence per key, every
 * push, the read model, one capture per paid order and the stock each order holds or moved. Its first run found a bug no other test had:
 * a node refusing a command on its cached state after the other node had moved the order on.
 *
 * About a minute in `make test`; `make soak` runs it for HISTORY_SECONDS (600 by default).
 */
import { service } from "../support/faults/services.js"
import { expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Context, Duration, Effect, Fiber, Layer, Ref, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import http from "node:http"
import type net from "node:net"
import { type CliProcess, startBuiltCli } from "../../bench/lib/processes.js"
import { adminToken, authEnvironment, bearer } from "../support/auth.js"
import { StoreLive } from "../../src/app.js"
import { fold } from "../../src/domain/aggregate.js"
import { orderAggregate } from "../../src/domain/order/index.js"
import { EventStore, type RecordedEvent } from "../../src/eventstore/EventStore.js"
import { startDevPaymentProvider } from "../../src/payments/DevPaymentProvider.js"
import { paymentIdOf } from "../../src/processes/fulfilment/definition.js"
import * as Outbox from "../../src/outbox/OutboxStore.js"
import * as OrderSummaries from "../../src/projections/OrderSummaries.js"
import { commitCutProxy, throughProxy } from "../support/faults/commitCutProxy.js"
import { freePort, toxiproxy } from "../support/faults/toxiproxy.js"
import { testConfig } from "../support/layers.js"
import { messagingEnvironment, readTopic, TestMessaging, versionsByKey } from "../support/messaging.js"

const SECONDS = Number(process.env["HISTORY_SECONDS"] ?? 45)
const CLIENTS = 12
const NOTIFIED = new Set(["OrderConfirmed", "PaymentRequested", "OrderPaid", "OrderShipped", "OrderDelivered", "OrderCancelled"])
/** Units of each SKU an order's life takes, and the stock set before the run. */
const LINES: Readonly<Record<string, number>> = { A: 1, B: 2, C: 1 }
const STOCK = 1_000_000


/** What a client was finally told about one command. */
type Answer = "acknowledged" | "refused" | "unknown"

interface Sent {
  readonly orderId: string
  readonly commandId: string
  readonly answer: Answer
  readonly version?: number
}

/** A push provider that deduplicates nothing: it counts every request, by Idempotency-Key. */
const countingGateway = Effect.acquireRelease(
  Effect.async<{ server: http.Server; url: string; requests: Map<string, number> }>((resume) => {
    const requests = new Map<string, number>()
    const server = http.createServer((request, response) => {
      request.resume()
      request.on("end", () => {
        const key = String(request.headers["idempotency-key"])
        requests.set(key, (requests.get(key) ?? 0) + 1)
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({ server, requests, url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/push` })))
  }),
  ({ server }) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
)

/** An order's life as HTTP requests: each is sent until it gets a definite answer. */
const life = (customerId: string) => [
  { path: "", body: { customerId, currency: "EUR", lines: [{ sku: "A", quantity: 1, unitPriceCents: 100 }] } },
  { path: "/items", body: { sku: "B", quantity: 2, unitPriceCents: 250 } },
  { path: "/items", body: { sku: "C", quantity: 1, unitPriceCents: 400 } },
  { path: "/confirm", body: undefined },
  // Accepted (202); the client waits for the saga to record it paid before it ships.
  { path: "/pay", body: { amountCents: 1000, method: "card" }, awaitStatus: "paid" },
  { path: "/ship", body: { carrier: "DHL", trackingNumber: "JD0146" } },
  { path: "/deliver", body: undefined }
]

it.scopedLive(`history under faults: ${SECONDS} s of clients while replies are cut, PostgreSQL half-opens, processes die and brokers restart`, () =>
  Effect.gen(function*() {
    const env = Context.get(yield* Layer.build(messagingEnvironment), TestMessaging)
    const judgeContext = yield* Layer.build(
      Layer.mergeAll(Outbox.layer, OrderSummaries.layer).pipe(Layer.provideMerge(StoreLive), Layer.provide(testConfig({ databaseUrl: env.databaseUrl })))
    )
    const judge = Context.get(judgeContext, EventStore)
    const database = new URL(env.databaseUrl)
    const cutting = yield* commitCutProxy({ host: database.hostname, port: Number(database.port || 5432) })
    const halfOpening = yield* Effect.flatMap(toxiproxy, (server) => server.proxy(`pg-history-${randomUUID().slice(0, 8)}`, `${database.hostname}:${database.port || 5432}`))
    const gateway = yield* countingGateway
    const provider = yield* Effect.acquireRelease(
      Effect.promise(() => startDevPaymentProvider({ port: 0 })),
      (sink) => Effect.promise(() => sink.close())
    )

    const common = {
      ...authEnvironment,
      RATE_LIMIT_PER_SECOND: "1000000",
      RATE_LIMIT_BURST: "1000000",
      OPS_PORT: "0",
      MESSAGING_PREFIX: env.prefix,
      OUTBOX_POLL_INTERVAL: "200 millis",
      APPEND_TIMEOUT: "2 seconds",
      PG_STATEMENT_TIMEOUT: "5 seconds",
      // The run's database is its own: its process managers fulfil only this run's orders.
      PROCESS_MANAGER: "true",
      PAYMENT_PROVIDER_URL: provider.url,
      PAYMENT_TIMEOUT: "3 seconds",
      SAGA_POLL_INTERVAL: "200 millis",
      SAGA_RETRY_BASE_DELAY: "200 millis",
      SAGA_RETRY_MAX_DELAY: "5 seconds",
      SAGA_MAX_ATTEMPTS: "1000",
      RESERVATION_TTL: "1 hour"
    }
    const LISTENING = /Listening on http:\/\/[^:"]+:(\d+)/
    /** The two nodes' base URLs; undefined while a node is down. */
    const nodes: Array<string | undefined> = [undefined, undefined]
    const nodeProcesses: Array<CliProcess | undefined> = [undefined, undefined]
    const ports = [yield* freePort, yield* freePort]
    const startNode = (i: number) =>
      Effect.gen(function*() {
        const url = i === 0 ? throughProxy(env.databaseUrl, cutting.port) : throughProxy(env.databaseUrl, halfOpening.port)
        // The faults are on the commands' way to the database; the cluster's registry and shard locks
        // go straight there (see the README's "Running several nodes" on a slow database route).
        const process = yield* startBuiltCli(["serve"], {
          ...common,
          DATABASE_URL: url,
          CLUSTER_DATABASE_URL: env.databaseUrl,
          PORT: String(ports[i])
        })
        const line = yield* process.waitForLine(LISTENING, 60_000)
        nodeProcesses[i] = process
        nodes[i] = `http://127.0.0.1:${LISTENING.exec(line)![1]}`
      })
    const killNode = (i: number) =>
      Effect.gen(function*() {
        nodes[i] = undefined
        yield* nodeProcesses[i]!.kill("SIGKILL")
        yield* nodeProcesses[i]!.exited
      })
    const startWorker = Effect.gen(function*() {
      const worker = yield* startBuiltCli(["worker"], {
        DATABASE_URL: env.databaseUrl,
        MESSAGING_PREFIX: env.prefix,
        PUSH_GATEWAY_URL: gateway.url,
        WORKER_PORT: "0",
        WORKER_RETRY_BASE_DELAY: "200 millis"
      })
      yield* worker.waitForLine(/worker consuming/, 60_000)
      return worker
    })
    yield* Effect.all([startNode(0), startNode(1)], { concurrency: 2 })
    let worker = yield* startWorker
    for (const sku of Object.keys(LINES)) {
      const response = yield* Effect.promise(() =>
        fetch(`${nodes[0]}/inventory/${sku}`, {
          method: "PUT",
          headers: { ...bearer(adminToken), "content-type": "application/json" },
          body: JSON.stringify({ onHand: STOCK })
        }))
      expect(response.status).toBe(200)
    }

    // The clients: each takes orders through their lives, every command with its own key and id.
    const sent = yield* Ref.make<ReadonlyArray<Sent>>([])
    const stop = { now: false }
    const refusals: Array<string> = []
    const request = (method: string, path: string, body: unknown, headers: Record<string, string>) =>
      Effect.promise(async () => {
        const live = nodes.filter((node): node is string => node !== undefined)
        if (live.length === 0) return { status: 0, json: undefined as any }
        const base = live[Math.floor(Math.random() * live.length)]!
        try {
          const response = await fetch(`${base}${path}`, {
            method,
            headers: { ...headers, ...bearer(adminToken), ...(body === undefined ? {} : { "content-type": "application/json" }) },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
            signal: AbortSignal.timeout(20_000)
          })
          return { status: response.status, json: await response.json().catch(() => undefined) as any }
        } catch {
          return { status: 0, json: undefined as any }
        }
      })
    /** Polls the order until it shows `status` (through faults, on either node); false after 60 s, or once the run stops. */
    const awaitStatus = (orderId: string, status: string) =>
      Effect.gen(function*() {
        for (let attempt = 0; attempt < 240 && !stop.now; attempt++) {
          const response = yield* request("GET", `/orders/${orderId}`, undefined, {})
          if (response.status === 200 && response.json?.status === status) return true
          yield* Effect.sleep("250 millis")
        }
        return false
      })
    const client = Effect.gen(function*() {
      while (!stop.now) {
        const placeKey = randomUUID()
        let orderId: string | undefined
        for (const step of life(randomUUID())) {
          const commandId = randomUUID()
          const key = orderId === undefined ? placeKey : randomUUID()
          const headers = { "idempotency-key": key, "x-correlation-id": commandId }
          let answer: Answer = "unknown"
          let version: number | undefined
          // Retried with the same key for up to 30 s: through a node's restart, a broker's, an outage.
          for (let attempt = 0; attempt < 60; attempt++) {
            const response = yield* request("POST", orderId === undefined ? "/orders" : `/orders/${orderId}${step.path}`, step.body, headers)
            if (response.status >= 200 && response.status < 300) {
              answer = "acknowledged"
              version = response.json.version
              orderId ??= response.json.orderId
              break
            }
            if (response.status >= 400 && response.status < 500) {
              answer = "refused"
              refusals.push(`${step.path || "/orders"}: ${response.status} ${JSON.stringify(response.json)}`)
              break
            }
            yield* Effect.sleep("500 millis")
          }
          if (orderId === undefined) break
          yield* Ref.update(sent, (all) => [...all, { orderId: orderId!, commandId, answer, ...(version === undefined ? {} : { version }) }])
          if (answer !== "acknowledged") break
          if (step.awaitStatus !== undefined) {
            const reached = yield* awaitStatus(orderId, step.awaitStatus)
            if (!reached) {
              if (!stop.now) refusals.push(`${orderId}: not ${step.awaitStatus} within 60 s of its payment`)
              break
            }
          }
        }
      }
    })
    const clients = yield* Effect.fork(Effect.all(Array.from({ length: CLIENTS }, () => client), { concurrency: "unbounded" }))

    // The faults, spread over the run.
    const at = (fraction: number) => Effect.sleep(Duration.seconds(SECONDS * fraction))
    cutting.cutWithProbability(0.05)
    yield* at(0.1)
    yield* halfOpening.halfOpen
    yield* Effect.sleep("5 seconds")
    yield* halfOpening.heal
    yield* at(0.1)
    yield* killNode(0)
    yield* Effect.sleep("2 seconds")
    yield* startNode(0)
    yield* at(0.1)
    yield* service("restart", "rabbitmq")
    yield* at(0.1)
    yield* service("restart", "kafka")
    yield* at(0.1)
    yield* worker.kill("SIGKILL")
    yield* worker.exited
    worker = yield* startWorker
    yield* at(0.1)
    yield* killNode(1)
    yield* startNode(1)
    yield* at(0.1)
    stop.now = true
    yield* Fiber.join(clients)
    cutting.cutWithProbability(0)
    expect(cutting.cuts()).toBeGreaterThan(0)

    // The sagas settle: nothing due but the reservations' expiry, an hour away; no step parked.
    const sql = Context.get(judgeContext, SqlClient.SqlClient)
    yield* sql<{ unsettled: number }>`
      SELECT count(*)::int AS unsettled FROM process_instances
      WHERE status = 'parked' OR (status = 'running' AND next_wake_at < now() + interval '30 minutes')`.pipe(
      Effect.filterOrFail((rows) => rows[0]!.unsettled === 0, () => new Error("sagas still have steps to run")),
      Effect.retry({ schedule: Schedule.spaced("500 millis"), times: 240 })
    )

    // Judging the history.
    const answers = yield* Ref.get(sent)
    const orderIds = [...new Set(answers.map((a) => a.orderId))]
    const stored = new Map<string, ReadonlyArray<RecordedEvent>>()
    for (const id of orderIds) stored.set(id, yield* judge.readStream(id))
    const acknowledged = answers.filter((a) => a.answer === "acknowledged")
    expect(acknowledged.length).toBeGreaterThan(100)
    // Each client sends a valid life in order, each command after the last was acknowledged: a
    // refusal can only be a decision on a state the store had moved past.
    expect(refusals).toEqual([])
    for (const [id, events] of stored) {
      // Every stream's versions are 1..N.
      expect(events.map((event) => event.version), id).toEqual(events.map((_, i) => i + 1))
    }
    for (const a of answers) {
      const copies = stored.get(a.orderId)!.filter((event) => event.metadata.correlationId === a.commandId)
      // Acknowledged: stored exactly once, at the version the client was told. Refused: not stored.
      // Unknown: at most once.
      if (a.answer === "acknowledged") expect(copies.map((event) => event.version), a.commandId).toEqual([a.version])
      else if (a.answer === "refused") expect(copies, a.commandId).toEqual([])
      else expect(copies.length).toBeLessThanOrEqual(1)
    }

    // Each order's payment was taken once, and only for orders now paid; each SKU holds what the
    // orders waiting to ship reserved, and has moved what the shipped ones took.
    const statuses = new Map<string, string>()
    for (const [id, events] of stored) {
      const decoded = events.map((event) => {
        const result = orderAggregate.events.decode(event)
        if (result._tag === "Left") throw new Error(result.left.reason)
        return result.right
      })
      const state = fold(orderAggregate.evolve, orderAggregate.initialState, decoded)
      statuses.set(id, state.status)
      const taken = Array.from({ length: state.paymentAttempts }, (_, i) => provider.payment(paymentIdOf(id, i + 1)))
      const captures = taken.reduce((n, payment) => n + (payment?.captures ?? 0), 0)
      const refunds = taken.reduce((n, payment) => n + (payment?.refunds ?? 0), 0)
      const paid = ["paid", "shipped", "delivered"].includes(state.status)
      expect({ id, status: state.status, captures, refunds }).toEqual({ id, status: state.status, captures: paid ? 1 : 0, refunds: 0 })
    }
    const holding = [...statuses.values()].filter((status) => ["confirmed", "paymentPending", "paid"].includes(status)).length
    const shipped = [...statuses.values()].filter((status) => ["shipped", "delivered"].includes(status)).length
    for (const [sku, units] of Object.entries(LINES)) {
      const stock = yield* request("GET", `/inventory/${sku}`, undefined, {})
      expect({ sku, ...stock.json }).toMatchObject({ sku, onHand: STOCK - units * shipped, reserved: units * holding })
    }

    // The outbox drains; Kafka holds every event exactly once, each key's in version order.
    yield* Effect.flatMap(Outbox.OutboxStore, (outbox) =>
      outbox.backlog.pipe(
        Effect.filterOrFail((backlog) => backlog.events.pending === 0 && backlog.notifications.pending === 0, () => new Error("outbox not drained")),
        Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 600 })
      )).pipe(Effect.provide(judgeContext))
    const all = [...stored.values()].flat()
    const received = yield* readTopic(env.names.eventsTopic("order"), (messages) => {
      const seen = new Set(messages.map((message) => message.value.eventId))
      return all.every((event) => seen.has(event.eventId))
    }, Duration.seconds(120))
    const expected = new Map<string, Array<number>>()
    for (const event of all) expected.set(event.streamId, [...(expected.get(event.streamId) ?? []), event.version])
    const raw = versionsByKey(received.filter((message) => expected.has(message.key)))
    expect(raw).toEqual(expected)

    // Every notification pushed, each copy with its event's key.
    const notified = all.filter((event) => NOTIFIED.has(event.type)).map((event) => event.eventId)
    yield* Effect.suspend(() => {
      const missing = notified.filter((eventId) => !gateway.requests.has(eventId))
      return missing.length === 0 ? Effect.void : Effect.fail(new Error(`${missing.length} notifications not pushed yet`))
    }).pipe(Effect.retry({ schedule: Schedule.spaced("500 millis"), times: 240 }))
    for (const key of gateway.requests.keys()) expect(notified).toContain(key)

    const pushes = [...gateway.requests.values()]
    console.info(
      `history: ${answers.length} commands on ${orderIds.length} orders — ${acknowledged.length} acknowledged, ` +
        `${answers.filter((a) => a.answer === "refused").length} refused, ${answers.filter((a) => a.answer === "unknown").length} unknown; ` +
        `${cutting.cuts()} commit replies cut; ${all.length} events, ${received.length} Kafka messages; ` +
        `${notified.length} notifications, ${pushes.reduce((n, c) => n + c, 0)} pushes, ${pushes.filter((c) => c > 1).length} pushed twice or more`
    )

    // The read model is the fold of the store.
    const summaries = Context.get(judgeContext, OrderSummaries.OrderSummaries)
    yield* Effect.gen(function*() {
      const rows = yield* summaries.load(orderIds)
      for (const [id, events] of stored) {
        const decoded = events.map((event) => {
          const result = orderAggregate.events.decode(event)
          if (result._tag === "Left") throw new Error(result.left.reason)
          return result.right
        })
        const state = fold(orderAggregate.evolve, orderAggregate.initialState, decoded)
        const row = rows.get(id)
        if (events.length === 0) continue
        if (row === undefined || row.lastVersion !== events.length || row.status !== state.status || row.totalCents !== state.totalCents) {
          return yield* Effect.fail(new Error(`order ${id}: read model ${JSON.stringify(row)} is not the fold (${state.status}, v${events.length})`))
        }
      }
    }).pipe(Effect.retry({ schedule: Schedule.spaced("500 millis"), times: 240 }))
  }), { timeout: (SECONDS + 360) * 1000 })
