import { SqlClient } from "@effect/sql"
import { HttpServer } from "@effect/platform"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Either, Fiber, Layer, Schedule } from "effect"
import { Kafka, logLevel, Partitioners } from "kafkajs"
import { randomUUID } from "node:crypto"
import { isDeepStrictEqual } from "node:util"
import { OrderActors } from "../../src/aggregates.js"
import { HttpLive, ProjectorLive, RelayLive, RuntimeLive } from "../../src/app.js"
import { EventStore } from "../../src/eventstore/EventStore.js"
import { toKafkaRecord } from "../../src/messaging/contracts.js"
import * as OrderSummaries from "../../src/projections/OrderSummaries.js"
import { applyToSummary, type OrderSummary } from "../../src/projections/orderSummary.js"
import { fromRecorded } from "../../src/projections/projectEvents.js"
import { orderSummariesProjection } from "../../src/projections/orderSummariesProjection.js"
import { type GroupMembership, membershipOfAll } from "../../src/projections/Projector.js"
import { startBuiltCli } from "../../bench/lib/processes.js"
import { environmentConfig, messagingEnvironment, orderLifeAfterPlacing, settings, TestMessaging } from "../support/messaging.js"
import { options, placeOrder } from "../support/orders.js"
import { adminToken, bearer } from "../support/auth.js"
import { opsMetric, opsPortOf } from "../support/ops.js"

/** The projector's metrics are labelled with the projection's name. */
const series = (name: string) => `${name}{projection="order_summaries"}`

const kafka = new Kafka({ clientId: "projection-tests", brokers: [...settings.kafka.brokers], logLevel: logLevel.NOTHING })

/** The application's layers on the test's environment: `parts` plus the store, actors and summaries. */
const environment = <A, E, R>(parts: Layer.Layer<A, E, R>) =>
  Layer.unwrapEffect(
    Effect.map(TestMessaging, (env) =>
      Layer.mergeAll(parts, OrderSummaries.layer).pipe(Layer.provideMerge(RuntimeLive), Layer.provide(environmentConfig(env))))
  ).pipe(Layer.provideMerge(messagingEnvironment))

/** Orders placed and taken through their lives; gives their ids. */
const orderLives = (count: number, concurrency = 8) =>
  Effect.gen(function*() {
    const orders = yield* OrderActors
    const ids = Array.from({ length: count }, () => randomUUID() as string)
    yield* Effect.forEach(ids, (id) =>
      Effect.gen(function*() {
        const placed = yield* orders.execute(id, placeOrder(), options())
        for (const command of orderLifeAfterPlacing(placed.state.totalCents)) yield* orders.execute(id, command, options())
      }), { concurrency, discard: true })
    return ids
  })

/** What each order's summary must be: the fold of its stored history. */
const expectedSummary = (id: string) =>
  Effect.gen(function*() {
    const history = yield* (yield* EventStore).readStream(id)
    let summary: OrderSummary | undefined
    for (const event of history) summary = Either.getOrThrow(applyToSummary(summary, fromRecorded(event)))
    return summary!
  })

/** Waits until the read model holds exactly the fold of the store for every one of `ids`. */
const readModelMatchesStore = (ids: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const summaries = yield* OrderSummaries.OrderSummaries
    const expected = yield* Effect.forEach(ids, expectedSummary)
    const actual = yield* summaries.load(ids)
    const mismatched = expected.filter((summary) => !isDeepStrictEqual(actual.get(summary.orderId), summary))
    if (mismatched.length > 0) return yield* Effect.fail(new Error(`${mismatched.length} of ${ids.length} rows differ from the store`))
    return actual
  }).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 300 }))

/** Waits until the projector's consumer group has committed every partition up to its end. */
const projectorConsumedEverything = Effect.gen(function*() {
  const env = yield* TestMessaging
  const topic = env.names.eventsTopic("order")
  const groupId = `${env.prefix}projector.order_summaries`
  yield* Effect.promise(async () => {
    const admin = kafka.admin()
    await admin.connect()
    try {
      const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })])
      const done = new Map(committed[0]!.partitions.map((p) => [p.partition, p.offset]))
      return ends.every((end) => end.high === "0" || done.get(end.partition) === end.high)
    } finally {
      await admin.disconnect()
    }
  }).pipe(
    Effect.filterOrFail((caughtUp) => caughtUp, () => new Error("the projector has not consumed everything yet")),
    Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 300 })
  )
})

layer(environment(Layer.mergeAll(RelayLive, ProjectorLive)), { excludeTestServices: true })("projector", (it) => {
  it.effect("builds one row per order that equals the fold of its history", () =>
    Effect.gen(function*() {
      const ids = yield* orderLives(20)
      const rows = yield* readModelMatchesStore(ids)
      for (const row of rows.values()) expect(row).toMatchObject({ status: "delivered", lastVersion: 7, itemCount: 3 })
    }))

  it.effect("duplicated and replayed Kafka messages leave the read model unchanged", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const ids = yield* orderLives(10)
      const before = yield* readModelMatchesStore(ids)
      // Send every event of these orders again, twice, as a relay retrying after a crash would.
      const store = yield* EventStore
      const records = (yield* Effect.forEach(ids, (id) => store.readStream(id))).flat().map((event) => toKafkaRecord(env.names, event))
      yield* Effect.promise(async () => {
        const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
        await producer.connect()
        for (let i = 0; i < 2; i++) {
          await producer.send({
            topic: env.names.eventsTopic("order"),
            messages: records.map((record) => ({ key: record.key, value: record.value, headers: { ...record.headers } }))
          })
        }
        await producer.disconnect()
      })
      yield* projectorConsumedEverything
      const after = yield* (yield* OrderSummaries.OrderSummaries).load(ids)
      expect([...after.entries()].sort()).toEqual([...before.entries()].sort())
    }))

  it.effect("a rebuild of a corrupted table while commands keep flowing leaves every row equal to the fold of the store", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const earlier = yield* orderLives(30)
      const traffic = yield* Effect.fork(orderLives(40, 4))
      // Rows gone wrong, the reason to rebuild: the projector keeps building on them until the swap.
      yield* Effect.sleep("200 millis")
      yield* sql`UPDATE order_summaries SET total_cents = -1, state = jsonb_set(state, '{totalCents}', '-1')`
      const rebuilt = yield* orderSummariesProjection.rebuild()
      expect(rebuilt.events).toBeGreaterThan(0)
      const during = yield* Fiber.join(traffic)
      yield* readModelMatchesStore([...earlier, ...during])
    }))
})

layer(environment(Layer.mergeAll(HttpLive, RelayLive, ProjectorLive)), { excludeTestServices: true })("read endpoints", (it) => {
  const get = (path: string) =>
    Effect.flatMap(HttpServer.HttpServer, (server) =>
      Effect.promise(async () => {
        const port = server.address._tag === "TcpAddress" ? server.address.port : 0
        const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers: bearer(adminToken) })
        return { status: response.status, headers: response.headers, json: await response.json() as any }
      }))

  it.effect("GET /orders/{id}/summary?minVersion waits for the projection and says when it gave up", () =>
    Effect.gen(function*() {
      const orders = yield* OrderActors
      const id = randomUUID()
      const placed = yield* orders.execute(id, placeOrder(), options())
      const confirmed = yield* orders.execute(id, orderLifeAfterPlacing(placed.state.totalCents)[1]!, options())
      const fresh = yield* get(`/orders/${id}/summary?minVersion=${confirmed.version}`)
      expect(fresh.status).toBe(200)
      expect(fresh.json).toMatchObject({ orderId: id, status: "confirmed", version: confirmed.version })
      expect(fresh.headers.get("x-read-model-stale")).toBeNull()

      const stale = yield* get(`/orders/${id}/summary?minVersion=${confirmed.version + 5}&waitMs=200`)
      expect(stale.status).toBe(200)
      expect(stale.json.version).toBe(confirmed.version)
      expect(stale.headers.get("x-read-model-stale")).toBe("true")

      expect((yield* get(`/orders/${randomUUID()}/summary`)).status).toBe(404)
      expect((yield* get(`/orders/${id}/summary?minVersion=-1`)).status).toBe(400)
    }))

  it.effect("GET /customers/{id}/orders pages through a customer's orders, newest first", () =>
    Effect.gen(function*() {
      const orders = yield* OrderActors
      const customerId = randomUUID()
      const ids: Array<string> = []
      for (let i = 0; i < 3; i++) {
        const id = randomUUID()
        const placed = yield* orders.execute(id, { ...placeOrder(), customerId, at: `2026-05-0${i + 1}T00:00:00.000Z` }, options())
        ids.push(id)
        yield* get(`/orders/${id}/summary?minVersion=${placed.version}`)
      }
      const first = yield* get(`/customers/${customerId}/orders?limit=2`)
      expect(first.json.orders.map((order: any) => order.orderId)).toEqual([ids[2], ids[1]])
      expect(typeof first.json.nextCursor).toBe("string")
      const second = yield* get(`/customers/${customerId}/orders?limit=2&cursor=${first.json.nextCursor}`)
      expect(second.json).toEqual({ orders: [expect.objectContaining({ orderId: ids[0] })], nextCursor: null })
      expect((yield* get(`/customers/${customerId}/orders?cursor=nonsense`)).status).toBe(400)
      // Crafted: well-formed JSON whose timestamp JavaScript reads but PostgreSQL would not.
      const crafted = Buffer.from(JSON.stringify(["1", "x"])).toString("base64url")
      expect((yield* get(`/customers/${customerId}/orders?cursor=${crafted}`)).status).toBe(400)
    }))
})

layer(environment(Layer.empty), { excludeTestServices: true })("projector processes and gaps", (it) => {
  it.scoped("a deliberately skipped event is filled from the event store", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const store = yield* EventStore
      // No relay here: the test decides what reaches Kafka.
      const ids = yield* orderLives(1)
      const id = ids[0]!
      const history = yield* store.readStream(id)
      const projector = yield* startBuiltCli(["project"], { DATABASE_URL: env.databaseUrl, MESSAGING_PREFIX: env.prefix })
      const ops = yield* opsPortOf(projector)
      yield* projector.waitForLine(/projector consuming/, 30_000)
      // Versions 1 and 4 only: 2 and 3 must come from the store.
      yield* Effect.promise(async () => {
        const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
        await producer.connect()
        await producer.send({
          topic: env.names.eventsTopic("order"),
          messages: [history[0]!, history[3]!].map((event) => toKafkaRecord(env.names, event)).map((record) => ({ key: record.key, value: record.value }))
        })
        await producer.disconnect()
      })
      const summaries = yield* OrderSummaries.OrderSummaries
      const row = yield* summaries.find(id).pipe(
        Effect.filterOrFail((found) => found._tag === "Some" && found.value.lastVersion === 4, () => new Error("not at v4 yet")),
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 300 })
      )
      let expected: OrderSummary | undefined
      for (const event of history.slice(0, 4)) expected = Either.getOrThrow(applyToSummary(expected, fromRecorded(event)))
      expect(row._tag === "Some" ? row.value : undefined).toEqual(expected)
      // Written seconds after their commit: every write missed the default 200 ms target, and was counted.
      const written = yield* opsMetric(ops, series("projection_lag_seconds_count"))
      expect(written).toBeGreaterThanOrEqual(1)
      expect(yield* opsMetric(ops, series("projection_lag_breaches_total"))).toBe(written)
      expect(yield* opsMetric(ops, series("projection_lag_seconds_sum"))).toBeGreaterThan(0.2 * written)
      yield* projector.waitForLine(/projection lag is over the threshold.*thresholdMs=200/, 10_000)
    }))

  it.scoped("a projector killed mid-stream and started again: no double count, no gap", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const relayAndProjector = { DATABASE_URL: env.databaseUrl, MESSAGING_PREFIX: env.prefix }
      yield* startBuiltCli(["relay"], relayAndProjector)
      const first = yield* startBuiltCli(["project"], relayAndProjector)
      yield* first.waitForLine(/projector consuming/, 30_000)
      const traffic = yield* Effect.fork(orderLives(60, 4))
      yield* Effect.sleep("1 second")
      yield* first.kill("SIGKILL")
      // With a target no write misses, none is counted as a breach.
      const second = yield* startBuiltCli(["project"], { ...relayAndProjector, PROJECTION_LAG_WARNING: "1 hour" })
      const ops = yield* opsPortOf(second)
      yield* second.waitForLine(/projector consuming/, 30_000)
      const ids = yield* Fiber.join(traffic)
      yield* readModelMatchesStore(ids)
      expect(yield* opsMetric(ops, series("projection_lag_seconds_count"))).toBeGreaterThan(0)
      expect(yield* opsMetric(ops, series("projection_lag_breaches_total"))).toBe(0)
    }), 120_000)

  it.scoped("`projections rebuild` rebuilds every registered projection, or those named, and refuses a name not registered", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const sql = yield* SqlClient.SqlClient
      const rebuild = (names: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const run = yield* startBuiltCli(["projections", "rebuild", ...names], { DATABASE_URL: env.databaseUrl, MESSAGING_PREFIX: env.prefix })
          const exit = yield* run.exited
          return { code: exit.code, output: run.lines.join("\n") }
        }).pipe(Effect.scoped)
      // No projector runs here: the rows of these orders come from the rebuild alone.
      const ids = yield* orderLives(3)
      const all = yield* rebuild([])
      expect(all.code, all.output).toBe(0)
      expect(all.output).toMatch(/^order_summaries rebuilt from \d+ events in [\d.]+ s and swapped in$/m)
      yield* readModelMatchesStore(ids)

      yield* sql`UPDATE order_summaries SET total_cents = -1 WHERE order_id IN ${sql.in(ids)}`
      const named = yield* rebuild(["order_summaries"])
      expect(named.code, named.output).toBe(0)
      yield* readModelMatchesStore(ids)

      const unknown = yield* rebuild(["no_such_projection"])
      expect(unknown.code).not.toBe(0)
      expect(unknown.output).not.toMatch(/rebuilt from/)
    }), 120_000)
})

describe("one readiness for several projections' consumers", () => {
  const member = (memberId: string): GroupMembership => ({ _tag: "Member", memberId })
  const notMember = (reason: string): GroupMembership => ({ _tag: "NotMember", reason })

  it("with one projection: its consumer's membership as it is", () => {
    expect(membershipOfAll(new Map([["order_summaries", member("m-1")]]))).toEqual(member("m-1"))
    expect(membershipOfAll(new Map([["order_summaries", notMember("the consumer stopped")]]))).toEqual(notMember("the consumer stopped"))
  })

  it("with several: a member only when every consumer is, otherwise naming each that is not", () => {
    expect(membershipOfAll(new Map([["a", member("m-1")], ["b", member("m-2")]]))).toEqual(member("a: m-1, b: m-2"))
    expect(membershipOfAll(new Map([["a", member("m-1")], ["b", notMember("the consumer disconnected")], ["c", notMember("not yet")]])))
      .toEqual(notMember("b: the consumer disconnected; c: not yet"))
  })
})
