/**
 * PostgreSQL half-open: toxiproxy between the code and the database stops forwarding and sends
 * nothing back, with every connection left open — what a silent network failure or a vanished
 * primary looks like. Without timeouts, appends, readiness and the relay's lock waited on those
 * sockets until the kernel gave up (about 15 minutes).
 */
import { expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import { StoreLive } from "../../src/app.js"
import { EventStore } from "../../src/eventstore/EventStore.js"
import { startBuiltCli } from "../../bench/lib/processes.js"
import { throughProxy } from "../support/faults/commitCutProxy.js"
import { toxiproxy } from "../support/faults/toxiproxy.js"
import { type ApiResponse, expectError, get, placeOrder, post, serverLayer } from "../support/http.js"
import { databaseUrl, testConfig } from "../support/layers.js"
import { appOnEnvironment, readTopic, TestMessaging } from "../support/messaging.js"
import { options, placeOrder as placeOrderCommand } from "../support/orders.js"
import { OrderActors } from "../../src/aggregates.js"

const postgres = `127.0.0.1:${new URL(databaseUrl()).port || 5432}`

/** Runs `effect`, giving what it answered and how long it took. */
const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const started = Date.now()
    const value = yield* effect
    return { value, ms: Date.now() - started }
  })

/** Asks again every 200 ms, for up to 30 s, until the answer has `status`. */
const answeredWith = <E, R>(request: Effect.Effect<ApiResponse, E, R>, status: number) =>
  request.pipe(
    Effect.filterOrFail((response) => response.status === status, (response) => new Error(`still ${response.status}`)),
    Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 150 })
  )

it.scopedLive("commands and readiness fail cleanly within seconds, and everything resumes after it", () =>
  Effect.gen(function*() {
    const proxy = yield* Effect.flatMap(toxiproxy, (server) => server.proxy(`pg-${randomUUID().slice(0, 8)}`, postgres))
    const server = yield* Layer.build(serverLayer({
      databaseUrl: throughProxy(databaseUrl(), proxy.port),
      database: { appendTimeout: Duration.seconds(1), statementTimeout: Duration.seconds(2) }
    }))
    const judge = Context.get(yield* Layer.build(StoreLive.pipe(Layer.provide(testConfig()))), EventStore)
    yield* Effect.gen(function*() {
      const orderId = yield* placeOrder()
      const addItem = { body: { sku: "B", quantity: 1, unitPriceCents: 100 }, headers: { "idempotency-key": randomUUID() } }

      yield* proxy.halfOpen
      // A plain command goes straight to its append, whose reply cannot come: the runtime says it
      // does not know, within seconds.
      const plain = yield* timed(post(`/orders/${orderId}/items`, { body: { sku: "C", quantity: 1, unitPriceCents: 100 } }))
      expectError(plain.value, 503, { error: "outcome_unknown" })
      expect(plain.ms).toBeLessThan(15_000)
      // A keyed one first looks its key up, which fails: nothing was tried, and it says so.
      const keyed = yield* timed(post(`/orders/${orderId}/items`, addItem))
      expectError(keyed.value, 503, { error: "store_unavailable" })
      expect(keyed.ms).toBeLessThan(15_000)
      const ready = yield* timed(get("/ready"))
      expectError(ready.value, 503, { error: "not_ready" })
      expect(ready.ms).toBeLessThan(5_000)
      const health = yield* get("/health")
      expect(health.status).toBe(200)

      yield* proxy.heal
      // Back: ready again, and the retry with the same key applies the command once.
      yield* answeredWith(get("/ready"), 200)
      const retried = yield* answeredWith(post(`/orders/${orderId}/items`, addItem), 200)
      expect(retried.status, retried.text).toBe(200)
      const stored = (yield* judge.readStream(orderId)).map((event) => `${event.type}:${(event.data as { sku?: string }).sku ?? ""}`)
      // B applied once; C, whose outcome was unknown, at most once.
      expect(stored.filter((event) => event === "ItemAdded:B")).toHaveLength(1)
      expect(stored.filter((event) => event === "ItemAdded:C").length).toBeLessThanOrEqual(1)
    }).pipe(Effect.provide(server))
  }), { timeout: 120_000 })

it.scopedLive("the active relay's lock connection goes half-open: a standby takes over within 5 s, and events flow", () =>
  Effect.gen(function*() {
    const app = yield* Layer.build(appOnEnvironment({ relay: false }))
    const env = Context.get(app, TestMessaging)
    const proxy = yield* Effect.flatMap(toxiproxy, (server) => server.proxy(`pg-relay-${randomUUID().slice(0, 8)}`, postgres))
    const relay = (url: string) =>
      startBuiltCli(["relay"], { DATABASE_URL: url, MESSAGING_PREFIX: env.prefix, OUTBOX_POLL_INTERVAL: "200 millis" })
    const cutOff = yield* relay(throughProxy(env.databaseUrl, proxy.port))
    yield* cutOff.waitForLine(/outbox relay active/, 30_000)
    const standby = yield* relay(env.databaseUrl)
    yield* standby.waitForLine(/outbox relay standing by/, 30_000)

    yield* proxy.halfOpen
    const takeover = yield* timed(standby.waitForLine(/outbox relay active/, 10_000))
    expect(takeover.ms).toBeLessThan(5_000)

    const orders = Context.get(app, OrderActors)
    const placed = yield* orders.execute(randomUUID(), placeOrderCommand(), options())
    yield* readTopic(env.names.eventsTopic("order"), (messages) => messages.some((message) => message.key === placed.streamId))
  }), { timeout: 120_000 })
