import { expect, layer } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Schedule } from "effect"
import { StoreLive } from "../../src/app.js"
import { EventStore, type RecordedEvent } from "../../src/eventstore/EventStore.js"
import { purgeIdempotencyKeys } from "../../src/eventstore/PgEventStore.js"
import { newEvents, streamId } from "../support/events.js"
import { testConfig } from "../support/layers.js"

const StoreTest = StoreLive.pipe(Layer.provide(testConfig()))

const append = (stream: string, expectedVersion: number, n = 1, idempotency?: { scope: string; key: string; requestHash: string }) =>
  Effect.flatMap(EventStore, (store) =>
    store.append({ streamId: stream, streamType: "test", expectedVersion, events: newEvents(n), idempotency }))

/** Everything readAll yields right now for the given streams, paging from the start. */
const readAllOf = (streams: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const seen: Array<RecordedEvent> = []
    let after = 0
    for (;;) {
      const page = yield* store.readAll({ afterPosition: after, limit: 500 })
      if (page.length === 0) return seen
      seen.push(...page.filter((event) => streams.includes(event.streamId)))
      after = page[page.length - 1]!.globalPosition
    }
  })

/**
 * readAllOf, once `count` of the events are visible. Other tests append meanwhile, and readAll holds
 * back everything from the oldest transaction still in flight, anywhere in the cluster, on.
 */
const readAllOfEventually = (streams: ReadonlyArray<string>, count: number) =>
  readAllOf(streams).pipe(
    Effect.filterOrFail((seen) => seen.length >= count, () => new Error(`fewer than ${count} events visible yet`)),
    Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 500 })
  )

// What only PostgreSQL does: group commits, commit order against transactions in flight, expiry of
// idempotency keys. Everything the EventStore contract says is tested for every store in
// eventStoreContract.test.ts.
layer(StoreTest, { excludeTestServices: true })("event store", (it) => {
  it.effect("expired idempotency keys are purged; the others stay", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const sql = yield* SqlClient.SqlClient
      const key = `key-${streamId()}`
      const [mine, theirs] = [streamId(), streamId()]
      yield* store.append({ streamId: mine, streamType: "test", expectedVersion: 0, events: newEvents(1), idempotency: { scope: "user:a", key, requestHash: "h" } })
      yield* store.append({ streamId: theirs, streamType: "test", expectedVersion: 0, events: newEvents(1), idempotency: { scope: "user:b", key, requestHash: "h" } })
      yield* sql`UPDATE idempotency_keys SET created_at = now() - interval '2 days' WHERE scope = 'user:a' AND idempotency_key = ${key}`
      expect(yield* purgeIdempotencyKeys(Duration.hours(24), 10_000)).toBeGreaterThanOrEqual(1)
      expect(yield* store.findIdempotency({ scope: "user:a", key })).toEqual(Option.none())
      expect(Option.isSome(yield* store.findIdempotency({ scope: "user:b", key }))).toBe(true)
    }))
  it.effect("appends arriving together are committed together, each stream with its own guard", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const sql = yield* SqlClient.SqlClient
      const streams = Array.from({ length: 30 }, () => streamId("group"))
      const stale = streamId("stale")
      yield* append(stale, 0, 1)
      const exits = yield* Effect.all(
        [
          ...streams.map((stream) => Effect.exit(store.append({ streamId: stream, streamType: "test", expectedVersion: 0, events: newEvents(2) }))),
          Effect.exit(store.append({ streamId: stale, streamType: "test", expectedVersion: 0, events: newEvents(1) }))
        ],
        { concurrency: "unbounded" }
      )
      expect(exits.slice(0, 30).every(Exit.isSuccess)).toBe(true)
      expect(exits[30]).toEqual(Exit.fail(expect.objectContaining({ _tag: "VersionConflict", expectedVersion: 0, actualVersion: 1 })))
      for (const stream of streams) expect((yield* store.readStream(stream)).map((event) => event.version)).toEqual([1, 2])
      // Fewer transactions than appends: they went out in groups.
      const counted = yield* sql<{ transactions: number }>`
        SELECT count(DISTINCT transaction_id)::int AS transactions FROM events WHERE stream_id IN ${sql.in(streams)}`
      expect(counted[0]!.transactions).toBeLessThan(30)
    }))

  it.effect("readAll never passes over a transaction that commits after a later-numbered one", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const slow = streamId("slow")
      const fast = streamId("fast")
      const slowAppended = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()

      // The slow writer takes its positions first and holds its transaction open.
      const slowWriter = yield* sql.withTransaction(
        append(slow, 0, 2).pipe(Effect.zipLeft(Deferred.succeed(slowAppended, undefined)), Effect.zipLeft(Deferred.await(release)))
      ).pipe(Effect.fork)
      yield* Deferred.await(slowAppended)
      // The fast writer takes higher positions and commits at once.
      yield* append(fast, 0, 2)

      // A reader now must not return the fast events: a checkpoint past them would skip the slow ones.
      expect(yield* readAllOf([slow, fast])).toEqual([])

      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(slowWriter)
      const seen = yield* readAllOfEventually([slow, fast], 4)
      expect(seen.map((event) => `${event.streamId === slow ? "slow" : "fast"}:${event.version}`)).toEqual([
        "slow:1",
        "slow:2",
        "fast:1",
        "fast:2"
      ])
      // The hard case really happened: the late commit holds the lower positions.
      expect(seen[1]!.globalPosition).toBeLessThan(seen[2]!.globalPosition)
    }))

  it.effect("readAll resumes from a position without loss when transaction order and position order disagree", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const early = streamId("early-xid")
      const late = streamId("late-xid")
      const marker = streamId("marker")
      yield* append(marker, 0)
      const checkpoint = (yield* readAllOfEventually([marker], 1))[0]!.globalPosition

      const xidTaken = yield* Deferred.make<void>()
      const goOn = yield* Deferred.make<void>()
      // This transaction gets its transaction id first but appends (takes positions) last.
      const earlyWriter = yield* sql.withTransaction(
        Effect.gen(function*() {
          yield* sql`SELECT pg_current_xact_id()`
          yield* Deferred.succeed(xidTaken, undefined)
          yield* Deferred.await(goOn)
          yield* append(early, 0, 1)
        })
      ).pipe(Effect.fork)
      yield* Deferred.await(xidTaken)
      yield* append(late, 0, 1) // lower position, younger transaction, committed first
      const before = yield* EventStore.pipe(Effect.flatMap((store) => store.readAll({ afterPosition: checkpoint, limit: 1000 })))
      expect(before.filter((event) => event.streamId === late || event.streamId === early)).toEqual([])

      yield* Deferred.succeed(goOn, undefined)
      yield* Fiber.join(earlyWriter)
      const after = yield* readAllOfEventually([early, late], 2)
      expect(after.map((event) => event.streamId)).toEqual([early, late])
      expect(after[0]!.globalPosition).toBeGreaterThan(after[1]!.globalPosition)
    }))
})
