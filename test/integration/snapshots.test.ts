import { expect, layer } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { ConfigProvider, Effect, FastCheck as fc, Layer, Metric, Runtime } from "effect"
import { randomUUID } from "node:crypto"
import { StoreLive } from "../../src/app.js"
import { fold } from "../../src/domain/aggregate.js"
import { type OrderCommand, type OrderEvent, orderAggregate, type OrderState } from "../../src/domain/order/index.js"
import { EventStore, type EventStoreShape } from "../../src/eventstore/EventStore.js"
import { type ActorSystem, make, makeActorSystem } from "../../src/runtime/ActorSystem.js"
import { snapshotsRejected } from "../../src/runtime/AggregateActor.js"
import { testConfig } from "../support/layers.js"
import { orderScript } from "../support/orderHistories.js"
import { addOne, options, placeOrder, runScript, settings } from "../support/orders.js"

const StoreTest = StoreLive.pipe(Layer.provide(testConfig()))

const rejected = Metric.tagged(snapshotsRejected, "stream_type", "order")

/** The fold of an order's stored history: what every load must give. */
const replayed = (store: EventStoreShape, id: string) =>
  Effect.map(store.readStream(id), (events) => ({
    version: events.length,
    state: fold(orderAggregate.evolve, orderAggregate.initialState, events.map((event) => {
      const decoded = orderAggregate.events.decode(event)
      if (decoded._tag === "Left") throw new Error(decoded.left.reason)
      return decoded.right
    }))
  }))

/** The store with calls counted by operation. */
const counted = (store: EventStoreShape) => {
  const calls: Record<string, number> = {}
  const count = <A>(name: string, effect: () => A) => {
    calls[name] = (calls[name] ?? 0) + 1
    return effect()
  }
  const wrapped: EventStoreShape = {
    append: (request) => count("append", () => store.append(request)),
    readStream: (id, o) => count("readStream", () => store.readStream(id, o)),
    readHistory: (id, o) => count("readHistory", () => store.readHistory(id, o)),
    streamVersion: (id) => count("streamVersion", () => store.streamVersion(id)),
    appliedThrough: (eventId) => count("appliedThrough", () => store.appliedThrough(eventId)),
    readAll: (o) => count("readAll", () => store.readAll(o)),
    headPosition: Effect.suspend(() => count("headPosition", () => store.headPosition)),
    findIdempotency: (key) => count("findIdempotency", () => store.findIdempotency(key)),
    loadLatest: (id) => count("loadLatest", () => store.loadLatest(id)),
    saveSnapshot: (snapshot) => count("saveSnapshot", () => store.saveSnapshot(snapshot))
  }
  return { calls, store: wrapped }
}

/** An order with `events` events (one per command), written through `orders`; gives its id. */
const writeOrder = (orders: ActorSystem<OrderState, OrderCommand, OrderEvent>, events: number) =>
  Effect.gen(function*() {
    const id = randomUUID()
    yield* orders.execute(id, placeOrder(), options())
    for (let i = 1; i < events; i++) yield* orders.execute(id, addOne(), options())
    return id
  })

/** The versions of an order's snapshots, once the one at `last` is there (they are written in the background). */
const snapshotVersions = (id: string, last: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ version: number }>`SELECT version FROM snapshots WHERE stream_id = ${id} ORDER BY version`.pipe(
      Effect.map((rows) => rows.map((row) => row.version)),
      Effect.repeat({ until: (found) => found.includes(last), times: 100 })
    ))

/**
 * The orders' actor system as the application makes it, its settings read with these variables
 * in the environment before the process's own.
 */
const ordersConfigured = (environment: Record<string, string>) =>
  make(orderAggregate).pipe(
    Effect.provide(testConfig()),
    Effect.withConfigProvider(
      ConfigProvider.fromMap(new Map(Object.entries(environment))).pipe(ConfigProvider.orElse(() => ConfigProvider.fromEnv()))
    )
  )

layer(StoreTest, { excludeTestServices: true })("snapshots", (it) => {
  it.scoped("are written every N events, off the command's path, and as many are kept as the aggregate declares", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const orders = yield* makeActorSystem(orderAggregate, store, settings({ snapshotEvery: 5 }))
      const id = yield* writeOrder(orders, 25)
      // The order keeps 2: the one just taken and the one before it.
      expect(orderAggregate.snapshots!.keep).toBe(2)
      expect(yield* snapshotVersions(id, 25)).toEqual([20, 25])
    }))

  it.scoped("without a setting, an actor system takes them at the interval its aggregate declares", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const declared = { ...orderAggregate, snapshots: { ...orderAggregate.snapshots!, every: 3, keep: 1 } }
      const orders = yield* makeActorSystem(declared, store, settings())
      const id = yield* writeOrder(orders, 7)
      expect(yield* snapshotVersions(id, 6)).toEqual([6])
    }))

  it.scoped("the runtime uses the order's declared interval (50) unless SNAPSHOT_EVERY_ORDER or SNAPSHOT_EVERY overrides it", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      expect(orderAggregate.snapshots!.every).toBe(50)

      const declared = yield* writeOrder(yield* ordersConfigured({}), 52)
      expect(yield* snapshotVersions(declared, 50)).toEqual([50])

      // The type's own setting wins over the one for every type.
      const own = yield* writeOrder(yield* ordersConfigured({ SNAPSHOT_EVERY_ORDER: "4", SNAPSHOT_EVERY: "7" }), 13)
      expect(yield* snapshotVersions(own, 12)).toEqual([8, 12])

      const all = yield* writeOrder(yield* ordersConfigured({ SNAPSHOT_EVERY: "7" }), 15)
      expect(yield* snapshotVersions(all, 14)).toEqual([7, 14])

      // 0 switches them off for the type: none read, none written.
      const { calls, store: counting } = counted(store)
      const off = yield* ordersConfigured({ SNAPSHOT_EVERY_ORDER: "0", SNAPSHOT_EVERY: "7" }).pipe(
        Effect.provideService(EventStore, counting)
      )
      yield* writeOrder(off, 15)
      expect(calls["loadLatest"]).toBeUndefined()
      expect(calls["saveSnapshot"]).toBeUndefined()

      const refused = yield* Effect.flip(ordersConfigured({ SNAPSHOT_EVERY_ORDER: "-1" }))
      expect(String(refused)).toMatch(/SNAPSHOT_EVERY_ORDER.*must be a whole number, 0 or more/s)
    }))

  it.scoped("a fresh actor loads the latest snapshot and the tail in one round trip, equal to a full replay, for random histories", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const writer = yield* makeActorSystem(orderAggregate, store, settings({ snapshotEvery: 3 }))
      const runtime = yield* Effect.runtime<never>()
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(orderScript, (script) =>
            Effect.gen(function*() {
              const id = yield* runScript(writer, script)
              const { calls, store: counting } = counted(store)
              const reader = yield* makeActorSystem(orderAggregate, counting, settings({ snapshotEvery: 3 }))
              const loaded = yield* reader.read(id)
              expect(loaded).toEqual(yield* replayed(store, id))
              expect(calls).toMatchObject({ loadLatest: 1 })
              expect(calls["readHistory"]).toBeUndefined()
            }).pipe(Effect.scoped, Runtime.runPromise(runtime))),
          { numRuns: 25 }
        )
      )
    }))

  it.scoped("a corrupt, a foreign-version and a too-new snapshot are ignored: a full replay, a warning and a metric", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const writer = yield* makeActorSystem(orderAggregate, store, settings())
      const before = (yield* Metric.value(rejected)).count
      const cases = [
        { state: { status: "placed", lines: "not an array" }, schemaVersion: 1, ahead: 0 },
        { state: undefined, schemaVersion: 99, ahead: 0 },
        { state: undefined, schemaVersion: 1, ahead: 10 }
      ]
      for (const bad of cases) {
        const id = randomUUID()
        yield* writer.execute(id, placeOrder(), options())
        yield* writer.execute(id, addOne(), options())
        const truth = yield* replayed(store, id)
        // A well-formed state, but of another order's history: only its version or schema gives it away.
        const wrongState = orderAggregate.snapshots!.codec.encode({ ...truth.state, totalCents: 999_999 })
        yield* store.saveSnapshot({
          streamId: id,
          streamType: "order",
          version: 2 + bad.ahead,
          schemaVersion: bad.schemaVersion,
          state: bad.state ?? wrongState,
          keep: orderAggregate.snapshots!.keep
        })
        const reader = yield* makeActorSystem(orderAggregate, store, settings({ snapshotEvery: 5 }))
        expect(yield* reader.read(id)).toEqual(truth)
      }
      expect((yield* Metric.value(rejected)).count).toBe(before + 3)
    }))

  it.scoped("switched off, no snapshot is read or written", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const { calls, store: counting } = counted(store)
      const orders = yield* makeActorSystem(orderAggregate, counting, settings({ snapshotEvery: 0 }))
      const id = randomUUID()
      yield* orders.execute(id, placeOrder(), options())
      for (let i = 0; i < 10; i++) yield* orders.execute(id, addOne(), options())
      expect(calls["loadLatest"]).toBeUndefined()
      expect(calls["saveSnapshot"]).toBeUndefined()
    }))
})
