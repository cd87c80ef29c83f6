import { expect, layer } from "@effect/vitest"
import { Clock, Effect, Layer, Option, TestClock } from "effect"
import { randomUUID } from "node:crypto"
import { EventStore, type NewEvent } from "../../../src/eventstore/EventStore.js"
import { InMemoryEventStore, makeInMemoryEventStore } from "../../../src/testing/index.js"
import { eventStoreContract, StoreUnderTest } from "../../contract/eventStoreContract.js"

/** A clock that always reads `at`; sleeping is left to the live clock. */
const clockAt = (at: Date): Clock.Clock => {
  const live = Clock.make()
  const millis = at.getTime()
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => millis,
    currentTimeMillis: Effect.succeed(millis),
    unsafeCurrentTimeNanos: () => BigInt(millis) * 1_000_000n,
    currentTimeNanos: Effect.succeed(BigInt(millis) * 1_000_000n),
    sleep: (duration) => live.sleep(duration)
  }
}

eventStoreContract(
  "in memory",
  Layer.effect(
    StoreUnderTest,
    Effect.map(makeInMemoryEventStore(), (store) => ({
      store,
      // The store records the caller's clock.
      appendAt: (at, request) => Effect.withClock(store.append(request), clockAt(at)),
      snapshotVersions: (streamId) => Effect.map(store.snapshots(streamId), (kept) => kept.map((snapshot) => snapshot.version))
    }))
  )
)

const event = (): NewEvent => ({
  eventId: randomUUID(),
  type: "Noted",
  schemaVersion: 1,
  data: { at: new Date("2026-01-01T00:00:00Z") },
  metadata: { correlationId: randomUUID(), causationId: null, userId: null },
  notification: { name: "noted", customerId: "c", details: {} }
})

const append = (streamId: string, expectedVersion: number) =>
  Effect.flatMap(EventStore, (store) => store.append({ streamId, streamType: "test", expectedVersion, events: [event()] }))

// A block of its own with the store's layer (and the test services): @effect/vitest's `layer` sets
// the `it` it hands out on the shared vitest `it`, so a plain `it.effect` after the contract's
// block would run without them.
layer(InMemoryEventStore.layer)("in-memory event store", (it) => {
  it.effect("records events at the TestClock's time", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      yield* TestClock.setTime(new Date("2026-03-01T08:00:00Z").getTime())
      const stream = randomUUID()
      yield* append(stream, 0)
      yield* TestClock.adjust("90 minutes")
      yield* append(stream, 1)
      expect((yield* store.readStream(stream)).map((e) => e.recordedAt)).toEqual([
        new Date("2026-03-01T08:00:00Z"),
        new Date("2026-03-01T09:30:00Z")
      ])
      expect((yield* store.readStream(stream, { recordedUntil: new Date("2026-03-01T09:00:00Z") })).length).toBe(1)
    }))

  it.effect("gives back what PostgreSQL would: JSON, fresh objects, canonical event ids", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const [id, stream] = [randomUUID(), randomUUID()]
      yield* store.append({ streamId: stream, streamType: "test", expectedVersion: 0, events: [{ ...event(), eventId: `{${id.toUpperCase()}}` }] })
      const [first] = yield* store.readStream(stream)
      expect(first!.eventId).toBe(id)
      expect(first!.data).toEqual({ at: "2026-01-01T00:00:00.000Z" })
      ;(first!.data as { at: string }).at = "changed"
      expect((yield* store.readStream(stream))[0]!.data).toEqual({ at: "2026-01-01T00:00:00.000Z" })
      expect(yield* store.appliedThrough("not-a-uuid")).toEqual(Option.none())
    }))

  it.effect("each layer built is a store of its own", () =>
    Effect.gen(function*() {
      yield* append("s", 0).pipe(Effect.provide(InMemoryEventStore.layer))
      const fresh = yield* Effect.flatMap(EventStore, (store) => store.streamVersion("s")).pipe(Effect.provide(InMemoryEventStore.layer))
      expect(fresh).toBe(0)
    }))

  it.effect("keeps as many snapshots as each save asks", () =>
    Effect.gen(function*() {
      const store = yield* makeInMemoryEventStore()
      const save = (version: number, keep: number) =>
        store.saveSnapshot({ streamId: "s", streamType: "test", version, schemaVersion: 1, state: version, keep })
      for (const version of [1, 2, 3, 4, 5, 6, 7]) yield* save(version, 5)
      expect((yield* store.snapshots("s")).map((snapshot) => snapshot.version)).toEqual([3, 4, 5, 6, 7])
      // The next save's own `keep` decides: a definition that now keeps fewer trims the older ones.
      yield* save(8, 2)
      expect((yield* store.snapshots("s")).map((snapshot) => snapshot.version)).toEqual([7, 8])
    }))
})
