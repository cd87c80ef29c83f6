import { expect, layer } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect, FastCheck as fc, Layer, Metric, Runtime } from "effect"
import { randomUUID } from "node:crypto"
import { StoreLive } from "../../src/app.js"
import { fold } from "../../src/domain/aggregate.js"
import { orderAggregate } from "../../src/domain/order/index.js"
import { EventStore, type EventStoreShape } from "../../src/eventstore/EventStore.js"
import { makeActorSystem } from "../../src/runtime/ActorSystem.js"
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
    findIdempotency: (key) => count("findIdempotency", () => store.findIdempotency(key)),
    loadLatest: (id) => count("loadLatest", () => store.loadLatest(id)),
    saveSnapshot: (snapshot) => count("saveSnapshot", () => store.saveSnapshot(snapshot))
  }
  return { calls, store: wrapped }
}

layer(StoreTest, { excludeTestServices: true })("snapshots", (it) => {
  it.scoped("are written every N events, off the command's path, and the latest few are kept", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const sql = yield* SqlClient.SqlClient
      const orders = yield* makeActorSystem(orderAggregate, store, settings({ snapshotEvery: 5 }))
      const id = randomUUID()
      yield* orders.execute(id, placeOrder(), options())
      for (let i = 0; i < 24; i++) yield* orders.execute(id, addOne(), options())
      // Written in the background: look until the last one (version 25) is there.
      const versions = yield* sql<{ version: number }>`SELECT version FROM snapshots WHERE stream_id = ${id} ORDER BY version`.pipe(
        Effect.map((rows) => rows.map((row) => row.version)),
        Effect.repeat({ until: (found) => found.includes(25), times: 100 })
      )
      expect(versions).toEqual([15, 20, 25])
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
        const wrongState = orderAggregate.snapshots!.encode({ ...truth.state, totalCents: 999_999 })
        yield* store.saveSnapshot({
          streamId: id,
          streamType: "order",
          version: 2 + bad.ahead,
          schemaVersion: bad.schemaVersion,
          state: bad.state ?? wrongState
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
