/**
 * The EventStore contract as one suite that every store runs (after Emmett's eventStoreContract):
 * PgEventStore against this run's database, the in-memory store in unit tests. It covers what
 * src/eventstore/EventStore.ts promises; what only PostgreSQL does (commit order against
 * transactions in flight, NOTIFY, group commits, lost replies, pools) is tested beside PgEventStore.
 *
 * The store may be shared with other tests running at the same time (PostgreSQL is): every test
 * here owns its data through random stream ids, and reads of the whole log look only at its own
 * streams, starting from a position it was given.
 */
import { expect, layer } from "@effect/vitest"
import { Context, Effect, Exit, type Layer, Option, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import type {
  AppendError,
  AppendOutcome,
  AppendRequest,
  EventMetadata,
  EventStoreShape,
  NewEvent,
  RecordedEvent
} from "../../src/eventstore/EventStore.js"

/** A store under the contract, with what the suite cannot do through the contract itself. */
export interface StoreUnderTestShape {
  readonly store: EventStoreShape
  /**
   * Appends as if the store's clock read `at` (whole milliseconds): how reads up to a moment are
   * tested, a clock that stepped back included.
   */
  readonly appendAt: (at: Date, request: AppendRequest) => Effect.Effect<AppendOutcome, AppendError>
  /** The versions of a stream's snapshots the store keeps, ascending: retention made visible. */
  readonly snapshotVersions: (streamId: string) => Effect.Effect<ReadonlyArray<number>>
}

export class StoreUnderTest extends Context.Tag("test/StoreUnderTest")<StoreUnderTest, StoreUnderTestShape>() {}

const streamId = (prefix = "contract") => `${prefix}-${randomUUID()}`

const metadata = (overrides: Partial<EventMetadata> = {}): EventMetadata => ({
  correlationId: randomUUID(),
  causationId: null,
  userId: "tester",
  ...overrides
})

const newEvent = (data: unknown = { n: 1 }, meta: Partial<EventMetadata> = {}): NewEvent => ({
  eventId: randomUUID(),
  type: "Noted",
  schemaVersion: 1,
  data,
  metadata: metadata(meta)
})

const newEvents = (n: number, meta: Partial<EventMetadata> = {}) => Array.from({ length: n }, (_, i) => newEvent({ n: i + 1 }, meta))

const request = (stream: string, expectedVersion: number, events: ReadonlyArray<NewEvent>, idempotency?: AppendRequest["idempotency"]): AppendRequest => ({
  streamId: stream,
  streamType: "contract",
  expectedVersion,
  events,
  idempotency
})

const versions = (events: ReadonlyArray<{ readonly version: number }>) => events.map((event) => event.version)

/** A position the store gave: of an event read back from a stream of the test's own. */
const checkpoint = (store: EventStoreShape) =>
  Effect.gen(function*() {
    const marker = streamId("marker")
    yield* store.append(request(marker, 0, newEvents(1)))
    return (yield* store.readStream(marker))[0]!.globalPosition
  })

/**
 * The log after `afterPosition`, filtered to `streams`, once `count` of their events are there. A
 * shared store's readAll holds back whatever follows a writer still in flight, anywhere in it.
 */
const readAllOf = (store: EventStoreShape, afterPosition: number, streams: ReadonlyArray<string>, count: number) =>
  Effect.gen(function*() {
    const seen: Array<RecordedEvent> = []
    let after = afterPosition
    for (;;) {
      const page = yield* store.readAll({ afterPosition: after, limit: 500 })
      if (page.length === 0) return seen
      seen.push(...page.filter((event) => streams.includes(event.streamId)))
      after = page[page.length - 1]!.globalPosition
    }
  }).pipe(
    Effect.filterOrFail((seen) => seen.length >= count, () => new Error(`fewer than ${count} events visible yet`)),
    Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 500 })
  )

/**
 * Runs the contract against the store `makeStore` gives (built once for the suite; tests share it,
 * each with its own streams). The suite runs on the live clock: `appendAt` sets times it needs.
 */
export const eventStoreContract = <E>(name: string, makeStore: Layer.Layer<StoreUnderTest, E>) =>
  layer(makeStore, { excludeTestServices: true })(`EventStore contract: ${name}`, (it) => {
    const store = Effect.map(StoreUnderTest, (under) => under.store)

    it.effect("a stream never written to is at version 0 and empty", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        expect(yield* s.streamVersion(stream)).toBe(0)
        expect(yield* s.readStream(stream)).toEqual([])
        expect(yield* s.readHistory(stream)).toEqual([])
        expect(yield* s.loadLatest(stream)).toEqual({ snapshot: Option.none(), events: [], streamVersion: 0 })
      }))

    it.effect("appends from the expected version and reads the stream back in version order, as recorded", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        const first = [
          newEvent({ n: 1, nested: { list: [1, "two", null], flag: true } }, {
            causationId: randomUUID(),
            role: "customer",
            commandId: randomUUID(),
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
          }),
          newEvent({ n: 2 })
        ]
        const outcome = yield* s.append(request(stream, 0, first))
        expect(outcome).toEqual({ _tag: "Appended", result: { streamId: stream, fromVersion: 1, toVersion: 2 } })
        const second = yield* s.append(request(stream, 2, newEvents(3)))
        expect(second).toEqual({ _tag: "Appended", result: { streamId: stream, fromVersion: 3, toVersion: 5 } })

        const events = yield* s.readStream(stream)
        expect(versions(events)).toEqual([1, 2, 3, 4, 5])
        expect(events[0]).toEqual({
          globalPosition: expect.any(Number),
          eventId: first[0]!.eventId,
          streamId: stream,
          streamType: "contract",
          version: 1,
          type: "Noted",
          schemaVersion: 1,
          data: first[0]!.data,
          metadata: first[0]!.metadata,
          recordedAt: expect.any(Date)
        })
        // Positions grow with the versions of one stream; ids are unique.
        const positions = events.map((event) => event.globalPosition)
        expect([...positions].sort((a, b) => a - b)).toEqual(positions)
        expect(new Set(positions).size).toBe(5)
        expect(new Set(events.map((event) => event.eventId)).size).toBe(5)
        expect(yield* s.streamVersion(stream)).toBe(5)
      }))

    it.effect("what is read back is JSON: fields left undefined are not there", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        const event = newEvent({ kept: "yes", dropped: undefined, list: [1, 2] }, { role: undefined })
        yield* s.append(request(stream, 0, [event]))
        const [read] = yield* s.readStream(stream)
        expect(Object.keys(read!.data as object).sort()).toEqual(["kept", "list"])
        expect("role" in read!.metadata).toBe(false)
        const [history] = yield* s.readHistory(stream)
        expect(history!.data).toStrictEqual({ kept: "yes", list: [1, 2] })
      }))

    it.effect("refuses a stale or a future expected version with the stream's actual version, and writes nothing", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        yield* s.append(request(stream, 0, newEvents(2)))
        const stale = yield* Effect.flip(s.append(request(stream, 1, newEvents(1))))
        expect(stale).toMatchObject({ _tag: "VersionConflict", streamId: stream, expectedVersion: 1, actualVersion: 2 })
        const ahead = yield* Effect.flip(s.append(request(stream, 7, newEvents(1))))
        expect(ahead).toMatchObject({ _tag: "VersionConflict", streamId: stream, expectedVersion: 7, actualVersion: 2 })
        const fresh = yield* Effect.flip(s.append(request(streamId(), 3, newEvents(1))))
        expect(fresh).toMatchObject({ _tag: "VersionConflict", expectedVersion: 3, actualVersion: 0 })
        expect(yield* s.streamVersion(stream)).toBe(2)
      }))

    it.effect("of writers racing to one version exactly one wins; the others hear the version it left", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        const exits = yield* Effect.all(
          Array.from({ length: 12 }, () => Effect.exit(s.append(request(stream, 0, newEvents(2))))),
          { concurrency: "unbounded" }
        )
        expect(exits.filter(Exit.isSuccess)).toHaveLength(1)
        for (const exit of exits.filter(Exit.isFailure)) {
          expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "VersionConflict", expectedVersion: 0, actualVersion: 2 })))
        }
        expect(versions(yield* s.readStream(stream))).toEqual([1, 2])
      }))

    it.effect("an append is all or nothing: an event id twice in it and none is stored", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        yield* s.append(request(stream, 0, newEvents(1)))
        const twice = newEvent()
        const error = yield* Effect.flip(s.append(request(stream, 1, [newEvent(), twice, { ...twice }])))
        expect(error._tag).toBe("StoreUnavailable")
        expect(yield* s.streamVersion(stream)).toBe(1)
      }))

    it.effect("event ids are UUIDs: an append with another id is refused and stores nothing", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        const error = yield* Effect.flip(s.append(request(stream, 0, [{ ...newEvent(), eventId: "not-a-uuid" }])))
        expect(error._tag).toBe("StoreUnavailable")
        expect(yield* s.streamVersion(stream)).toBe(0)
      }))

    it.effect("the very same append again (a retry after a lost reply) is appended, not a conflict, and stores nothing more", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        const events = newEvents(2)
        const first = yield* s.append(request(stream, 0, events))
        expect(yield* s.append(request(stream, 0, events))).toEqual(first)
        const keyed = request(stream, 2, newEvents(1), { scope: "contract", key: randomUUID(), requestHash: "h" })
        const once = yield* s.append(keyed)
        expect(yield* s.append(keyed)).toEqual(once)
        expect(versions(yield* s.readStream(stream))).toEqual([1, 2, 3])
      }))

    it.effect("an idempotency key answers a retry with the first result, whatever version it was decided on, and refuses another request", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        const key = randomUUID()
        const claim = (requestHash: string) => ({ scope: "contract", key, requestHash })
        expect(yield* s.findIdempotency({ scope: "contract", key })).toEqual(Option.none())
        const first = yield* s.append(request(stream, 0, newEvents(2), claim("h1")))
        if (first._tag !== "Appended") return expect.fail(`appended, not ${first._tag}`)
        // Decided again (new event ids) on the old version, and on the current one: the key answers both.
        expect(yield* s.append(request(stream, 0, newEvents(2), claim("h1")))).toEqual({ _tag: "Replayed", result: first.result })
        expect(yield* s.append(request(stream, 2, newEvents(2), claim("h1")))).toEqual({ _tag: "Replayed", result: first.result })
        const reused = yield* Effect.flip(s.append(request(stream, 2, newEvents(1), claim("h2"))))
        expect(reused).toMatchObject({ _tag: "IdempotencyKeyReused", key })
        const reusedStale = yield* Effect.flip(s.append(request(stream, 0, newEvents(1), claim("h2"))))
        expect(reusedStale).toMatchObject({ _tag: "IdempotencyKeyReused", key })
        expect(yield* s.streamVersion(stream)).toBe(2)
        expect(yield* s.findIdempotency({ scope: "contract", key })).toEqual(Option.some({ requestHash: "h1", result: first.result }))
      }))

    it.effect("idempotency keys are the caller's: the same key in two scopes never meets", () =>
      Effect.gen(function*() {
        const s = yield* store
        const key = randomUUID()
        const [mine, theirs] = [streamId(), streamId()]
        const first = yield* s.append(request(mine, 0, newEvents(1), { scope: "user:a", key, requestHash: "h" }))
        const second = yield* s.append(request(theirs, 0, newEvents(1), { scope: "user:b", key, requestHash: "other" }))
        expect([first._tag, second._tag]).toEqual(["Appended", "Appended"])
        expect(yield* s.findIdempotency({ scope: "user:a", key })).toEqual(
          Option.some({ requestHash: "h", result: { streamId: mine, fromVersion: 1, toVersion: 1 } })
        )
        expect(yield* s.findIdempotency({ scope: "user:b", key })).toEqual(
          Option.some({ requestHash: "other", result: { streamId: theirs, fromVersion: 1, toVersion: 1 } })
        )
      }))

    it.effect("a key is taken only by an append that happened: after a conflict it is still free", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        const claim = { scope: "contract", key: randomUUID(), requestHash: "h" }
        yield* s.append(request(stream, 0, newEvents(1)))
        const conflict = yield* Effect.flip(s.append(request(stream, 0, newEvents(1), claim)))
        expect(conflict).toMatchObject({ _tag: "VersionConflict", expectedVersion: 0, actualVersion: 1 })
        expect(yield* s.findIdempotency(claim)).toEqual(Option.none())
        expect(yield* s.append(request(stream, 1, newEvents(1), claim))).toEqual({
          _tag: "Appended",
          result: { streamId: stream, fromVersion: 2, toVersion: 2 }
        })
      }))

    it.effect("an event id already stored at other versions is a command applied before: AlreadyApplied, nothing appended", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        const commandId = randomUUID()
        const applied = newEvents(2, { commandId })
        yield* s.append(request(stream, 0, applied))
        // Decided again on the newer state, after its answer was lost: the same ids at versions 3 and 4.
        expect(yield* s.append(request(stream, 2, applied))).toEqual({ _tag: "AlreadyApplied" })
        // One id of the request is enough, with a key too (which stays free).
        const claim = { scope: "contract", key: randomUUID(), requestHash: "h" }
        expect(yield* s.append(request(stream, 2, [newEvent(), applied[1]!], claim))).toEqual({ _tag: "AlreadyApplied" })
        expect(yield* s.findIdempotency(claim)).toEqual(Option.none())
        // Stored in another stream counts too: ids are unique in the whole store.
        const other = streamId()
        expect(yield* s.append(request(other, 0, [applied[0]!]))).toEqual({ _tag: "AlreadyApplied" })
        expect(yield* s.streamVersion(stream)).toBe(2)
        expect(yield* s.streamVersion(other)).toBe(0)
      }))

    it.effect("appliedThrough gives the version after the last event of the command whose event it is given", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        const [first, second] = [randomUUID(), randomUUID()]
        const firstEvents = newEvents(3, { commandId: first })
        const secondEvents = newEvents(1, { commandId: second })
        const anonymous = newEvents(1)
        yield* s.append(request(stream, 0, newEvents(1, { commandId: randomUUID() })))
        yield* s.append(request(stream, 1, firstEvents))
        yield* s.append(request(stream, 4, secondEvents))
        yield* s.append(request(stream, 5, anonymous))
        expect(yield* s.appliedThrough(firstEvents[0]!.eventId)).toEqual(Option.some(4))
        expect(yield* s.appliedThrough(firstEvents[1]!.eventId)).toEqual(Option.some(4))
        expect(yield* s.appliedThrough(secondEvents[0]!.eventId)).toEqual(Option.some(5))
        expect(yield* s.appliedThrough(randomUUID())).toEqual(Option.none())
        // An event decided by no named command belongs to no command: nothing is found for it.
        expect(yield* s.appliedThrough(anonymous[0]!.eventId)).toEqual(Option.none())
      }))

    it.effect("readStream and readHistory read a range of versions; readHistory only what folding needs", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        yield* s.append(request(stream, 0, newEvents(5)))
        expect(versions(yield* s.readStream(stream, { afterVersion: 3 }))).toEqual([4, 5])
        expect(versions(yield* s.readStream(stream, { toVersion: 2 }))).toEqual([1, 2])
        expect(versions(yield* s.readStream(stream, { afterVersion: 1, toVersion: 3 }))).toEqual([2, 3])
        expect(versions(yield* s.readStream(stream, { afterVersion: 5 }))).toEqual([])
        expect(versions(yield* s.readStream(stream, { afterVersion: 3, toVersion: 3 }))).toEqual([])
        const recorded = yield* s.readStream(stream)
        const history = yield* s.readHistory(stream, { afterVersion: 1, toVersion: 3 })
        expect(history).toStrictEqual(
          recorded.slice(1, 3).map(({ data, schemaVersion, type, version }) => ({ version, type, schemaVersion, data }))
        )
      }))

    it.effect("reading up to a moment gives a prefix of versions, even when the clock stepped back between two", () =>
      Effect.gen(function*() {
        const under = yield* StoreUnderTest
        const stream = streamId()
        // v2 recorded at 12:00, v3 at 11:00: the clock stepped back an hour between them.
        for (const [version, at] of [[1, "10:00"], [2, "12:00"], [3, "11:00"], [4, "13:00"]] as const) {
          yield* under.appendAt(new Date(`2026-01-01T${at}:00Z`), request(stream, version - 1, newEvents(1)))
        }
        const until = (at: string, range: { afterVersion?: number; toVersion?: number } = {}) =>
          Effect.map(under.store.readStream(stream, { ...range, recordedUntil: new Date(`2026-01-01T${at}:00Z`) }), versions)
        expect((yield* under.store.readStream(stream))[0]!.recordedAt).toEqual(new Date("2026-01-01T10:00:00Z"))
        // At 11:30 the store held v1 only: v3's earlier time does not let it skip over v2.
        expect(yield* until("11:30")).toEqual([1])
        // The moment itself is included.
        expect(yield* until("12:00")).toEqual([1, 2, 3])
        expect(yield* until("09:00")).toEqual([])
        expect(yield* until("14:00")).toEqual([1, 2, 3, 4])
        expect(yield* until("12:00", { afterVersion: 1 })).toEqual([2, 3])
        expect(yield* until("13:00", { toVersion: 2 })).toEqual([1, 2])
        expect(versions(yield* under.store.readHistory(stream, { recordedUntil: new Date("2026-01-01T11:30:00Z") }))).toEqual([1])
      }))

    it.effect("readAll gives every stream's events in commit order, as readStream recorded them", () =>
      Effect.gen(function*() {
        const s = yield* store
        const [a, b] = [streamId("a"), streamId("b")]
        const start = yield* checkpoint(s)
        yield* s.append(request(a, 0, newEvents(2)))
        yield* s.append(request(b, 0, newEvents(1)))
        yield* s.append(request(a, 2, newEvents(1)))
        yield* s.append(request(b, 1, newEvents(2)))
        const seen = yield* readAllOf(s, start, [a, b], 6)
        expect(seen.map((event) => `${event.streamId === a ? "a" : "b"}:${event.version}`)).toEqual([
          "a:1",
          "a:2",
          "b:1",
          "a:3",
          "b:2",
          "b:3"
        ])
        const byStream = [...(yield* s.readStream(a)), ...(yield* s.readStream(b))]
        expect([...seen].sort((x, y) => x.globalPosition - y.globalPosition)).toEqual(
          byStream.sort((x, y) => x.globalPosition - y.globalPosition)
        )
      }))

    it.effect("readAll pages by position: a page starts right after the position given, up to the limit", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        const start = yield* checkpoint(s)
        yield* s.append(request(stream, 0, newEvents(4)))
        yield* readAllOf(s, start, [stream], 4)
        const page = yield* s.readAll({ afterPosition: start, limit: 500 })
        expect(page.length).toBeGreaterThanOrEqual(4)
        // Resuming from any position of a page gives the rest of that page: nothing lost, nothing twice.
        for (const k of [0, 1, Math.floor(page.length / 2), page.length - 2]) {
          const rest = yield* s.readAll({ afterPosition: page[k]!.globalPosition, limit: page.length - k - 1 })
          expect(rest).toEqual(page.slice(k + 1))
        }
        expect(yield* s.readAll({ afterPosition: start, limit: 2 })).toEqual(page.slice(0, 2))
        expect(yield* s.readAll({ afterPosition: start, limit: 0 })).toEqual([])
      }))

    it.effect("headPosition is where a reader of what comes next starts: readAll after it gives only later events", () =>
      Effect.gen(function*() {
        const s = yield* store
        const before = streamId("before")
        const after = streamId("after")
        yield* s.append(request(before, 0, newEvents(2)))
        yield* readAllOf(s, 0, [before], 2)
        const head = yield* s.headPosition
        const last = (yield* s.readStream(before))[1]!.globalPosition
        expect(head).toBeGreaterThanOrEqual(last)
        yield* s.append(request(after, 0, newEvents(1)))
        const next = yield* readAllOf(s, head, [before, after], 1)
        expect(next.map((event) => event.streamId)).toEqual([after])
      }))

    it.effect("readAll from 0 starts at the beginning of the log", () =>
      Effect.gen(function*() {
        const s = yield* store
        yield* checkpoint(s)
        // Eventually: a shared store holds back the whole log while a writer older than all of it is in flight.
        const [first, second] = yield* s.readAll({ afterPosition: 0, limit: 2 }).pipe(
          Effect.filterOrFail((page) => page.length > 0, () => new Error("nothing visible yet")),
          Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 500 })
        )
        expect(yield* s.readAll({ afterPosition: 0, limit: 1 })).toEqual([first])
        // The event after the first is the one readAll gives after its position.
        if (second !== undefined) expect(yield* s.readAll({ afterPosition: first!.globalPosition, limit: 1 })).toEqual([second])
      }))

    it.effect("readAll refuses a position the store never gave", () =>
      Effect.gen(function*() {
        const s = yield* store
        yield* checkpoint(s)
        const error = yield* Effect.flip(s.readAll({ afterPosition: 9_000_000_000_000, limit: 1 }))
        expect(error).toMatchObject({ _tag: "UnknownPosition", position: 9_000_000_000_000 })
      }))

    it.effect("loadLatest without a snapshot gives every event and the stream's version", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        yield* s.append(request(stream, 0, newEvents(3)))
        expect(yield* s.loadLatest(stream)).toEqual({
          snapshot: Option.none(),
          events: yield* s.readHistory(stream),
          streamVersion: 3
        })
      }))

    it.effect("loadLatest gives the latest snapshot and only the events after it", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        yield* s.append(request(stream, 0, newEvents(5)))
        yield* s.saveSnapshot({ streamId: stream, streamType: "contract", version: 2, schemaVersion: 1, state: { total: 2 }, keep: 2 })
        yield* s.saveSnapshot({ streamId: stream, streamType: "contract", version: 3, schemaVersion: 4, state: { total: 3, at: undefined }, keep: 2 })
        const loaded = yield* s.loadLatest(stream)
        expect(loaded).toEqual({
          snapshot: Option.some({ version: 3, schemaVersion: 4, state: { total: 3 } }),
          events: yield* s.readHistory(stream, { afterVersion: 3 }),
          streamVersion: 5
        })
        expect(versions(loaded.events)).toEqual([4, 5])
        // Saved again at the same version, the new state replaces the old.
        yield* s.saveSnapshot({ streamId: stream, streamType: "contract", version: 3, schemaVersion: 4, state: { total: 33 }, keep: 2 })
        expect((yield* s.loadLatest(stream)).snapshot).toEqual(Option.some({ version: 3, schemaVersion: 4, state: { total: 33 } }))
        // At the stream's head: no events after it.
        yield* s.saveSnapshot({ streamId: stream, streamType: "contract", version: 5, schemaVersion: 4, state: [1, 2], keep: 2 })
        expect(yield* s.loadLatest(stream)).toEqual({
          snapshot: Option.some({ version: 5, schemaVersion: 4, state: [1, 2] }),
          events: [],
          streamVersion: 5
        })
      }))

    it.effect("loadLatest gives a snapshot ahead of the stream as it is (a cache the reader must doubt), with the stream's version", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        yield* s.append(request(stream, 0, newEvents(2)))
        yield* s.saveSnapshot({ streamId: stream, streamType: "contract", version: 9, schemaVersion: 1, state: "ahead", keep: 2 })
        expect(yield* s.loadLatest(stream)).toEqual({
          snapshot: Option.some({ version: 9, schemaVersion: 1, state: "ahead" }),
          events: [],
          streamVersion: 2
        })
      }))

    /** Saves a snapshot of `id` at `version` (its state: the version), keeping `keep`. */
    const saveAt = (id: string, version: number, keep: number, state: unknown = { version }) =>
      Effect.flatMap(store, (s) => s.saveSnapshot({ streamId: id, streamType: "contract", version, schemaVersion: 1, state, keep }))

    const snapshotVersions = (id: string) => Effect.flatMap(StoreUnderTest, (under) => under.snapshotVersions(id))

    it.effect("saveSnapshot with keep 1 keeps only the one saved; other streams' stay", () =>
      Effect.gen(function*() {
        const s = yield* store
        const [stream, other] = [streamId(), streamId()]
        yield* s.append(request(stream, 0, newEvents(15)))
        yield* saveAt(other, 1, 1)
        yield* saveAt(stream, 5, 1)
        expect(yield* snapshotVersions(stream)).toEqual([5])
        yield* saveAt(stream, 10, 1)
        expect(yield* snapshotVersions(stream)).toEqual([10])
        // Less than 1 counts as 1: the one saved is always kept.
        yield* saveAt(stream, 15, 0)
        expect(yield* snapshotVersions(stream)).toEqual([15])
        expect(yield* snapshotVersions(other)).toEqual([1])
        expect((yield* s.loadLatest(stream)).snapshot).toEqual(Option.some({ version: 15, schemaVersion: 1, state: { version: 15 } }))
      }))

    it.effect("saveSnapshot with keep 2 keeps the one saved and the newest before it", () =>
      Effect.gen(function*() {
        const stream = streamId()
        yield* saveAt(stream, 5, 2)
        yield* saveAt(stream, 10, 2)
        expect(yield* snapshotVersions(stream)).toEqual([5, 10])
        yield* saveAt(stream, 15, 2)
        expect(yield* snapshotVersions(stream)).toEqual([10, 15])
        yield* saveAt(stream, 20, 2)
        expect(yield* snapshotVersions(stream)).toEqual([15, 20])
      }))

    it.effect("saveSnapshot with keep 3 keeps three, also when the newest is saved again", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        yield* s.append(request(stream, 0, newEvents(25)))
        for (const version of [5, 10, 15]) yield* saveAt(stream, version, 3)
        expect(yield* snapshotVersions(stream)).toEqual([5, 10, 15])
        yield* saveAt(stream, 20, 3)
        expect(yield* snapshotVersions(stream)).toEqual([10, 15, 20])
        // Saved again at the same version: replaced in place, and neither of the two before it goes.
        yield* saveAt(stream, 20, 3, { version: 20, again: true })
        expect(yield* snapshotVersions(stream)).toEqual([10, 15, 20])
        expect((yield* s.loadLatest(stream)).snapshot).toEqual(
          Option.some({ version: 20, schemaVersion: 1, state: { version: 20, again: true } })
        )
        yield* saveAt(stream, 25, 3)
        expect(yield* snapshotVersions(stream)).toEqual([15, 20, 25])
      }))

    it.effect("saveSnapshot out of order: newer snapshots stay, and of the older ones the newest keep - 1", () =>
      Effect.gen(function*() {
        const s = yield* store
        const stream = streamId()
        yield* s.append(request(stream, 0, newEvents(30)))
        for (const version of [5, 10, 20, 30]) yield* saveAt(stream, version, 4)
        expect(yield* snapshotVersions(stream)).toEqual([5, 10, 20, 30])
        // A slow writer's snapshot lands after newer ones.
        yield* saveAt(stream, 15, 2)
        expect(yield* snapshotVersions(stream)).toEqual([10, 15, 20, 30])
        yield* saveAt(stream, 12, 1)
        expect(yield* snapshotVersions(stream)).toEqual([12, 15, 20, 30])
        expect((yield* s.loadLatest(stream)).snapshot).toEqual(Option.some({ version: 30, schemaVersion: 1, state: { version: 30 } }))
      }))
  })
