import { expect, layer } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Schedule } from "effect"
import { StoreLive } from "../../src/app.js"
import { EventStore, type RecordedEvent } from "../../src/eventstore/EventStore.js"
import { purgeIdempotencyKeys } from "../../src/eventstore/PgEventStore.js"
import { newEvent, newEvents, streamId } from "../support/events.js"
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

layer(StoreTest, { excludeTestServices: true })("event store", (it) => {
  it.effect("appends with versions from the expected one and reads the stream back in order", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const stream = streamId()
      const first = newEvents(2)
      const outcome = yield* store.append({ streamId: stream, streamType: "test", expectedVersion: 0, events: first })
      expect(outcome).toEqual({ _tag: "Appended", result: { streamId: stream, fromVersion: 1, toVersion: 2 } })
      yield* append(stream, 2, 3)
      const events = yield* store.readStream(stream)
      expect(events.map((event) => event.version)).toEqual([1, 2, 3, 4, 5])
      expect(events[0]).toMatchObject({
        eventId: first[0]!.eventId,
        streamId: stream,
        streamType: "test",
        type: "Noted",
        schemaVersion: 1,
        data: { n: 1 },
        metadata: first[0]!.metadata
      })
      expect(events[0]!.recordedAt).toBeInstanceOf(Date)
      expect(yield* store.streamVersion(stream)).toBe(5)
      expect((yield* store.readStream(stream, { afterVersion: 3 })).map((event) => event.version)).toEqual([4, 5])
      expect((yield* store.readStream(stream, { toVersion: 2 })).map((event) => event.version)).toEqual([1, 2])
    }))

  it.effect("reading up to a moment gives a prefix of versions, even when the clock stepped back between two", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const sql = yield* SqlClient.SqlClient
      const stream = streamId()
      yield* append(stream, 0, 3)
      // v2 recorded at 12:00, v3 at 11:00: the clock stepped back an hour between them.
      yield* sql`UPDATE events SET recorded_at = CASE version
          WHEN 1 THEN '2026-01-01T10:00:00Z'::timestamptz WHEN 2 THEN '2026-01-01T12:00:00Z' ELSE '2026-01-01T11:00:00Z' END
        WHERE stream_id = ${stream}`
      const at = (iso: string) => Effect.map(store.readStream(stream, { recordedUntil: new Date(iso) }), (events) => events.map((e) => e.version))
      // At 11:30 the store held v1 only: v3's earlier time does not let it skip over v2.
      expect(yield* at("2026-01-01T11:30:00Z")).toEqual([1])
      expect(yield* at("2026-01-01T12:00:00Z")).toEqual([1, 2, 3])
      expect(yield* at("2026-01-01T09:00:00Z")).toEqual([])
    }))

  it.effect("idempotency keys are the caller's: the same key from two scopes never meets, and expired keys are purged", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const sql = yield* SqlClient.SqlClient
      const key = `key-${streamId()}`
      const [mine, theirs] = [streamId(), streamId()]
      const first = yield* store.append({ streamId: mine, streamType: "test", expectedVersion: 0, events: newEvents(1), idempotency: { scope: "user:a", key, requestHash: "h" } })
      const second = yield* store.append({ streamId: theirs, streamType: "test", expectedVersion: 0, events: newEvents(1), idempotency: { scope: "user:b", key, requestHash: "h" } })
      expect([first._tag, second._tag]).toEqual(["Appended", "Appended"])

      yield* sql`UPDATE idempotency_keys SET created_at = now() - interval '2 days' WHERE scope = 'user:a' AND idempotency_key = ${key}`
      expect(yield* purgeIdempotencyKeys(Duration.hours(24), 10_000)).toBeGreaterThanOrEqual(1)
      expect(yield* store.findIdempotency({ scope: "user:a", key })).toEqual(Option.none())
      expect(Option.isSome(yield* store.findIdempotency({ scope: "user:b", key }))).toBe(true)
    }))

  it.effect("refuses a stale or a future expected version with the actual version, and writes nothing", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const stream = streamId()
      yield* append(stream, 0, 2)
      const stale = yield* Effect.flip(append(stream, 1))
      expect(stale).toMatchObject({ _tag: "VersionConflict", streamId: stream, expectedVersion: 1, actualVersion: 2 })
      const ahead = yield* Effect.flip(append(stream, 7))
      expect(ahead).toMatchObject({ _tag: "VersionConflict", expectedVersion: 7, actualVersion: 2 })
      expect(yield* store.streamVersion(stream)).toBe(2)
    }))

  it.effect("of racing writers at one version exactly one wins", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const stream = streamId()
      const results = yield* Effect.all(Array.from({ length: 12 }, () => Effect.exit(append(stream, 0, 2))), {
        concurrency: "unbounded"
      })
      expect(results.filter(Exit.isSuccess)).toHaveLength(1)
      for (const result of results.filter(Exit.isFailure)) {
        expect(result).toEqual(Exit.fail(expect.objectContaining({ _tag: "VersionConflict", expectedVersion: 0, actualVersion: 2 })))
      }
      expect((yield* store.readStream(stream)).map((event) => event.version)).toEqual([1, 2])
    }))

  it.effect("appends several events atomically: one bad event and none is stored", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const stream = streamId()
      const duplicate = newEvent()
      yield* append(stream, 0)
      const events = [newEvent(), duplicate, { ...duplicate }] // the same event id twice
      const exit = yield* Effect.exit(store.append({ streamId: stream, streamType: "test", expectedVersion: 1, events }))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* store.streamVersion(stream)).toBe(1)
    }))

  it.effect("an idempotency key returns the first result to a retry, and refuses another request", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const stream = streamId()
      const key = `key-${stream}`
      const first = yield* append(stream, 0, 2, { scope: "test", key, requestHash: "h1" })
      if (first._tag !== "Appended") return expect.fail(`appended, not ${first._tag}`)
      // The retry was decided on the old version; the key, not the version, answers it.
      const retry = yield* append(stream, 0, 2, { scope: "test", key, requestHash: "h1" })
      expect(retry).toEqual({ _tag: "Replayed", result: first.result })
      const misuse = yield* Effect.flip(append(stream, 2, 1, { scope: "test", key, requestHash: "h2" }))
      expect(misuse).toMatchObject({ _tag: "IdempotencyKeyReused", key })
      expect(yield* store.streamVersion(stream)).toBe(2)
      expect(yield* store.findIdempotency({ scope: "test", key })).toEqual(Option.some({ requestHash: "h1", result: first.result }))
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

  it.effect("readAll refuses a position the store never gave", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const error = yield* Effect.flip(store.readAll({ afterPosition: 9_000_000_000_000, limit: 1 }))
      expect(error).toMatchObject({ _tag: "UnknownPosition", position: 9_000_000_000_000 })
    }))
})
