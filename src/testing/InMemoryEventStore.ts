/**
 * An EventStore in memory, for fast tests of code that uses the store: the same answers as
 * PgEventStore for everything the contract says (it passes the same contract suite), with nothing
 * to start. It does not replace the real store where the database's own behaviour is under test.
 *
 * What it mirrors of PostgreSQL, on purpose: event ids are UUIDs and unique in the whole store;
 * payloads, metadata and snapshot states are kept as JSON text, so what is read back is what the
 * database would give (fresh objects; `undefined` fields gone; dates as strings); an append is
 * all or nothing. Events are recorded at the caller's `Clock` time, so `TestClock` decides
 * `recordedAt`. Every append commits at once, so `readAll` never has to wait for one in flight.
 *
 * What it leaves out: the outbox (an event's notification is not kept), NOTIFY, expiry of
 * idempotency keys (they are kept for the store's life), and lost replies (it always answers).
 * Its methods typed with `SqlError` never fail.
 */
import { Chunk, Clock, Effect, HashMap, Layer, Option, Ref } from "effect"
import {
  type AppendOutcome,
  type AppendRequest,
  type AppendResult,
  EventStore,
  type EventStoreShape,
  type HistoryEvent,
  IdempotencyKeyReused,
  type RecordedEvent,
  type StoredIdempotency,
  type StoredSnapshot,
  StoreUnavailable,
  type StreamRange,
  UnknownPosition,
  VersionConflict
} from "../eventstore/EventStore.js"

/**
 * Nothing to set today: how many snapshots are kept comes with each save (`keep`, from the
 * aggregate's definition), as it does for PgEventStore. Kept so that callers that pass options
 * need not change when one is added.
 */
export interface InMemoryEventStoreOptions {}

/** The store, and what only a test can ask of it. */
export interface InMemoryEventStoreShape extends EventStoreShape {
  /** Every snapshot kept of a stream, oldest first: retention made visible. */
  readonly snapshots: (streamId: string) => Effect.Effect<ReadonlyArray<StoredSnapshot>>
}

/** An event as kept: payload and metadata as JSON text, the time in milliseconds. */
interface StoredEvent {
  readonly globalPosition: number
  readonly eventId: string
  readonly streamId: string
  readonly streamType: string
  readonly version: number
  readonly type: string
  readonly schemaVersion: number
  readonly data: string
  readonly metadata: string
  /** From the metadata, for appliedThrough. */
  readonly commandId: string | undefined
  readonly recordedAt: number
}

interface KeptSnapshot {
  readonly version: number
  readonly schemaVersion: number
  readonly state: string
}

interface State {
  /** The log in commit order: the event at position p is at index p - 1. */
  readonly log: Chunk.Chunk<StoredEvent>
  /** Each stream's events: version v at index v - 1 (versions have no gaps). */
  readonly streams: HashMap.HashMap<string, Chunk.Chunk<StoredEvent>>
  readonly byEventId: HashMap.HashMap<string, StoredEvent>
  readonly idempotency: HashMap.HashMap<string, StoredIdempotency>
  /** Per stream, ascending by version. */
  readonly snapshots: HashMap.HashMap<string, ReadonlyArray<KeptSnapshot>>
}

const empty: State = {
  log: Chunk.empty(),
  streams: HashMap.empty(),
  byEventId: HashMap.empty(),
  idempotency: HashMap.empty(),
  snapshots: HashMap.empty()
}

/** What PostgreSQL's uuid type takes (the common forms), and the form it gives back. */
const UUID = /^\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}?$/i
const canonicalUuid = (id: string): string | undefined => {
  const parts = UUID.exec(id)
  return parts === null ? undefined : parts.slice(1).join("-").toLowerCase()
}

/** What a jsonb column holds for a value; undefined where it would hold SQL NULL. */
const toJson = (value: unknown): string | undefined => JSON.stringify(value) as string | undefined

const refused = (reason: string) => new StoreUnavailable({ message: `event store refused the append: ${reason}` })

const idempotencyKey = (scope: string, key: string) => JSON.stringify([scope, key])

const streamOf = (state: State, streamId: string) => Option.getOrElse(HashMap.get(state.streams, streamId), Chunk.empty<StoredEvent>)

const toRecordedEvent = (event: StoredEvent): RecordedEvent => ({
  globalPosition: event.globalPosition,
  eventId: event.eventId,
  streamId: event.streamId,
  streamType: event.streamType,
  version: event.version,
  type: event.type,
  schemaVersion: event.schemaVersion,
  data: JSON.parse(event.data),
  metadata: JSON.parse(event.metadata),
  recordedAt: new Date(event.recordedAt)
})

const toHistoryEvent = (event: StoredEvent): HistoryEvent => ({
  version: event.version,
  type: event.type,
  schemaVersion: event.schemaVersion,
  data: JSON.parse(event.data)
})

type Decided =
  | { readonly _tag: "Outcome"; readonly outcome: AppendOutcome }
  | { readonly _tag: "Failure"; readonly error: VersionConflict | IdempotencyKeyReused | StoreUnavailable }

const outcome = (value: AppendOutcome): Decided => ({ _tag: "Outcome", outcome: value })
const failure = (error: VersionConflict | IdempotencyKeyReused | StoreUnavailable): Decided => ({ _tag: "Failure", error })

/**
 * One append against one state, as PgEventStore's single statement decides it: the version guard
 * and the idempotency claim; then the events, all or none. The first event already stored where
 * this append puts it means an earlier attempt of the very same append committed: Appended again,
 * not a conflict. An event id stored anywhere else means a command in it was applied before.
 */
const decideAppend = (state: State, request: AppendRequest, now: number): readonly [Decided, State] => {
  const unchanged = (decided: Decided) => [decided, state] as const
  const events = request.events
  const result: AppendResult = {
    streamId: request.streamId,
    fromVersion: request.expectedVersion + 1,
    toVersion: request.expectedVersion + events.length
  }
  const firstId = events[0] === undefined ? undefined : canonicalUuid(events[0].eventId)
  if (events[0] !== undefined && firstId === undefined) return unchanged(failure(refused(`event id ${events[0].eventId} is not a UUID`)))

  const stream = streamOf(state, request.streamId)
  const current = Chunk.size(stream)
  const claim = request.idempotency
  const claimKey = claim === undefined ? undefined : idempotencyKey(claim.scope, claim.key)
  const claimed = claimKey === undefined ? Option.none<StoredIdempotency>() : HashMap.get(state.idempotency, claimKey)

  if (current === request.expectedVersion && Option.isNone(claimed)) {
    const ids = new Array<string>(events.length)
    for (const [i, event] of events.entries()) {
      const id = canonicalUuid(event.eventId)
      if (id === undefined) return unchanged(failure(refused(`event id ${event.eventId} is not a UUID`)))
      ids[i] = id
    }
    if (ids.some((id) => HashMap.has(state.byEventId, id))) return unchanged(outcome({ _tag: "AlreadyApplied" }))
    if (new Set(ids).size < ids.length) return unchanged(failure(refused("an event id appears twice in the append")))

    const stored = new Array<StoredEvent>(events.length)
    let position = Chunk.size(state.log)
    for (const [i, event] of events.entries()) {
      const data = toJson(event.data)
      const metadata = toJson(event.metadata)
      if (typeof event.type !== "string") return unchanged(failure(refused(`event ${ids[i]} has no type`)))
      if (!Number.isInteger(event.schemaVersion) || event.schemaVersion < 1) {
        return unchanged(failure(refused(`event ${ids[i]} has schema version ${event.schemaVersion}, not a positive integer`)))
      }
      if (data === undefined) return unchanged(failure(refused(`event ${ids[i]} has no data`)))
      if (metadata === undefined) return unchanged(failure(refused(`event ${ids[i]} has no metadata`)))
      const commandId: unknown = event.metadata.commandId
      stored[i] = {
        globalPosition: ++position,
        eventId: ids[i]!,
        streamId: request.streamId,
        streamType: request.streamType,
        version: request.expectedVersion + i + 1,
        type: event.type,
        schemaVersion: event.schemaVersion,
        data,
        metadata,
        commandId: commandId === undefined || commandId === null ? undefined : String(commandId),
        recordedAt: now
      }
    }
    let byEventId = state.byEventId
    for (const event of stored) byEventId = HashMap.set(byEventId, event.eventId, event)
    return [outcome({ _tag: "Appended", result }), {
      ...state,
      log: Chunk.appendAll(state.log, Chunk.unsafeFromArray(stored)),
      streams: HashMap.set(state.streams, request.streamId, Chunk.appendAll(stream, Chunk.unsafeFromArray(stored))),
      byEventId,
      idempotency: claim === undefined || claimKey === undefined
        ? state.idempotency
        : HashMap.set(state.idempotency, claimKey, { requestHash: claim.requestHash, result })
    }]
  }

  const storedAsAppended = firstId !== undefined && Option.exists(
    HashMap.get(state.byEventId, firstId),
    (event) => event.streamId === request.streamId && event.version === request.expectedVersion + 1
  )
  if (storedAsAppended) return unchanged(outcome({ _tag: "Appended", result }))
  const conflict = new VersionConflict({ streamId: request.streamId, expectedVersion: request.expectedVersion, actualVersion: current })
  // A retry is answered by its key whatever version it was decided on; without one, it is a conflict.
  if (claim === undefined || Option.isNone(claimed)) return unchanged(failure(conflict))
  return unchanged(
    claimed.value.requestHash === claim.requestHash
      ? outcome({ _tag: "Replayed", result: claimed.value.result })
      : failure(new IdempotencyKeyReused({ key: claim.key }))
  )
}

/** A stream's events in a range; up to a moment, the prefix before the first one recorded after it. */
const inRange = (stream: Chunk.Chunk<StoredEvent>, range: StreamRange = {}): ReadonlyArray<StoredEvent> => {
  const events = Chunk.toReadonlyArray(stream)
  const after = range.afterVersion ?? 0
  const to = range.toVersion ?? Number.POSITIVE_INFINITY
  const until = range.recordedUntil?.getTime()
  const end = until === undefined ? events.length : events.findIndex((event) => event.recordedAt > until)
  return events.slice(0, end === -1 ? events.length : end).filter((event) => event.version > after && event.version <= to)
}

/**
 * The contract's retention, as PgEventStore applies it: the one saved (in place of one at its
 * version), the `keep - 1` newest older than it, and every one newer than it (saved out of order).
 */
const retain = (before: ReadonlyArray<KeptSnapshot>, saved: KeptSnapshot, keep: number): ReadonlyArray<KeptSnapshot> => {
  const olderKept = Math.max(1, Math.floor(keep)) - 1
  const older = before.filter((snapshot) => snapshot.version < saved.version)
  const newer = before.filter((snapshot) => snapshot.version > saved.version)
  // `before` is ascending: the newest older ones are at its end.
  return [...(olderKept === 0 ? [] : older.slice(-olderKept)), saved, ...newer]
}

const toStoredSnapshot = (snapshot: KeptSnapshot): StoredSnapshot => ({
  version: snapshot.version,
  schemaVersion: snapshot.schemaVersion,
  state: JSON.parse(snapshot.state)
})

const span = (name: string, attributes: Record<string, unknown>) =>
  Effect.withSpan(`EventStore.${name}`, { attributes, captureStackTrace: false })

/** A new, empty store. Each call gives one of its own. */
export const makeInMemoryEventStore = (_options: InMemoryEventStoreOptions = {}): Effect.Effect<InMemoryEventStoreShape> =>
  Effect.map(Ref.make(empty), (ref): InMemoryEventStoreShape => {
    const read = <A>(f: (state: State) => A) => Effect.map(Ref.get(ref), f)

    const append: EventStoreShape["append"] = (request) =>
      Clock.currentTimeMillis.pipe(
        Effect.flatMap((now) => Ref.modify(ref, (state) => decideAppend(state, request, now))),
        Effect.flatMap((decided) => decided._tag === "Outcome" ? Effect.succeed(decided.outcome) : Effect.fail(decided.error)),
        span("append", { streamId: request.streamId, expectedVersion: request.expectedVersion, events: request.events.length })
      )

    const readStream: EventStoreShape["readStream"] = (streamId, range) =>
      read((state) => inRange(streamOf(state, streamId), range).map(toRecordedEvent)).pipe(span("readStream", { streamId }))

    const readHistory: EventStoreShape["readHistory"] = (streamId, range) =>
      read((state) => inRange(streamOf(state, streamId), range).map(toHistoryEvent)).pipe(span("readHistory", { streamId }))

    const streamVersion: EventStoreShape["streamVersion"] = (streamId) =>
      read((state) => Chunk.size(streamOf(state, streamId))).pipe(span("streamVersion", { streamId }))

    const appliedThrough: EventStoreShape["appliedThrough"] = (firstEventId) =>
      read((state) => {
        const id = canonicalUuid(firstEventId)
        const first = id === undefined ? Option.none<StoredEvent>() : HashMap.get(state.byEventId, id)
        // An event with no command is no command's: nothing is found for it (as the store's SQL finds nothing).
        if (Option.isNone(first) || first.value.commandId === undefined) return Option.none<number>()
        const { commandId, version } = first.value
        let through = version
        for (const event of Chunk.toReadonlyArray(streamOf(state, first.value.streamId))) {
          if (event.version > through && event.commandId === commandId) through = event.version
        }
        return Option.some(through)
      }).pipe(span("appliedThrough", { firstEventId }))

    const readAll: EventStoreShape["readAll"] = ({ afterPosition, limit }) =>
      Effect.flatMap(Ref.get(ref), (state) => {
        const log = Chunk.toReadonlyArray(state.log)
        if (afterPosition > 0 && (!Number.isInteger(afterPosition) || afterPosition > log.length)) {
          return Effect.fail(new UnknownPosition({ position: afterPosition }))
        }
        const from = Math.max(0, afterPosition)
        return Effect.succeed(log.slice(from, from + Math.max(0, limit)).map(toRecordedEvent))
      }).pipe(span("readAll", { afterPosition, limit }))

    const headPosition: EventStoreShape["headPosition"] = read((state) => Chunk.size(state.log)).pipe(span("headPosition", {}))

    const findIdempotency: EventStoreShape["findIdempotency"] = (claim) =>
      read((state) => HashMap.get(state.idempotency, idempotencyKey(claim.scope, claim.key))).pipe(
        span("findIdempotency", { scope: claim.scope })
      )

    const loadLatest: EventStoreShape["loadLatest"] = (streamId) =>
      read((state) => {
        const stream = Chunk.toReadonlyArray(streamOf(state, streamId))
        const latest = Option.fromNullable(Option.getOrElse(HashMap.get(state.snapshots, streamId), () => []).at(-1))
        const after = Option.match(latest, { onNone: () => 0, onSome: (snapshot) => snapshot.version })
        return {
          snapshot: Option.map(latest, toStoredSnapshot),
          events: stream.slice(Math.max(0, after)).map(toHistoryEvent),
          streamVersion: stream.length
        }
      }).pipe(span("loadLatest", { streamId }))

    const saveSnapshot: EventStoreShape["saveSnapshot"] = (snapshot) =>
      Ref.update(ref, (state) => {
        const saved: KeptSnapshot = {
          version: snapshot.version,
          schemaVersion: snapshot.schemaVersion,
          state: toJson(snapshot.state) ?? "null"
        }
        const before = Option.getOrElse(HashMap.get(state.snapshots, snapshot.streamId), (): ReadonlyArray<KeptSnapshot> => [])
        return { ...state, snapshots: HashMap.set(state.snapshots, snapshot.streamId, retain(before, saved, snapshot.keep)) }
      }).pipe(span("saveSnapshot", { streamId: snapshot.streamId, keep: snapshot.keep }))

    const snapshots: InMemoryEventStoreShape["snapshots"] = (streamId) =>
      read((state) => Option.getOrElse(HashMap.get(state.snapshots, streamId), (): ReadonlyArray<KeptSnapshot> => []).map(toStoredSnapshot))

    return {
      append,
      readStream,
      readHistory,
      streamVersion,
      appliedThrough,
      readAll,
      headPosition,
      findIdempotency,
      loadLatest,
      saveSnapshot,
      snapshots
    }
  })

/** The EventStore service in memory, with options; each time the layer is built, a new empty store. */
export const layerWith = (options: InMemoryEventStoreOptions): Layer.Layer<EventStore> =>
  Layer.effect(EventStore, makeInMemoryEventStore(options))

/** The EventStore service in memory; each time the layer is built, a new empty store. */
export const layer: Layer.Layer<EventStore> = layerWith({})
