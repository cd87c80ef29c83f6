/**
 * What one actor does with its messages: keep its aggregate's state and version hot, decide commands
 * against them and append the events with the version they were decided on. The actor's mailbox and
 * fiber live in ActorSystem; everything here runs on that one fiber, one message at a time, so the
 * cached state needs no lock.
 */
import type { SqlError } from "@effect/sql"
import { Effect, Either, Exit, Metric, Option } from "effect"
import { randomUUID } from "node:crypto"
import { type AggregateDefinition, fold } from "../domain/aggregate.js"
import type { EventMetadata, EventStoreShape, NewEvent, RecordedEvent } from "../eventstore/EventStore.js"
import {
  AggregateNotFound,
  IdempotencyKeyReused,
  type RuleViolated,
  StoreUnavailable,
  VersionConflict
} from "./errors.js"

export interface CommandOptions {
  /** The version the caller's decision rests on (If-Match); a different version is a conflict, never retried. */
  readonly expectedVersion?: number | undefined
  /** A retry with the same key and request returns the first result and appends nothing. */
  readonly idempotency?: { readonly key: string; readonly requestHash: string } | undefined
  readonly metadata: EventMetadata
}

export interface AggregateSnapshot<State> {
  readonly state: State
  readonly version: number
}

export interface CommandResult<State, Event> {
  readonly streamId: string
  readonly version: number
  readonly state: State
  /** The events this command appended; empty when it was an idempotent replay. */
  readonly events: ReadonlyArray<Event>
  readonly replayed: boolean
}

export type CommandError =
  | AggregateNotFound
  | RuleViolated
  | VersionConflict
  | IdempotencyKeyReused
  | StoreUnavailable

const unavailable = (error: SqlError.SqlError) =>
  new StoreUnavailable({ message: `event store failed: ${String(error.cause ?? error.message)}` })

export interface SnapshotPolicy {
  /** Events between snapshots; 0: none. */
  readonly every: number
  /** Runs an effect off the command's path (snapshots are written after the answer). */
  readonly background: (effect: Effect.Effect<void>) => void
}

export const snapshotsRejected = Metric.counter("snapshots_rejected_total", {
  description: "Snapshots ignored (unreadable, another schema version, or ahead of the stream); the stream was replayed",
  incremental: true
})
const snapshotsWritten = Metric.counter("snapshots_written_total", { description: "Snapshots written", incremental: true })

export const makeAggregateActor = <State, Command extends { readonly _tag: string }, Event extends { readonly _tag: string }>(
  definition: AggregateDefinition<State, Command, Event>,
  store: EventStoreShape,
  id: string,
  conflictRetries: number,
  snapshots: SnapshotPolicy = { every: 0, background: () => undefined }
) => {
  /** undefined until loaded, and again after a store failure left the outcome unknown. */
  let current: AggregateSnapshot<State> | undefined
  const codec = snapshots.every > 0 ? definition.snapshots : undefined

  /** Writes a snapshot of `at` in the background when it crossed a multiple of `every` since `from`. */
  const snapshotIfDue = (fromVersion: number, at: AggregateSnapshot<State>) => {
    if (codec === undefined || Math.floor(at.version / snapshots.every) === Math.floor(fromVersion / snapshots.every)) return
    snapshots.background(
      store.saveSnapshot({
        streamId: id,
        streamType: definition.streamType,
        version: at.version,
        schemaVersion: codec.schemaVersion,
        state: codec.encode(at.state)
      }).pipe(
        Effect.zipRight(Metric.increment(Metric.tagged(snapshotsWritten, "stream_type", definition.streamType))),
        Effect.catchAll((error) =>
          Effect.logWarning("snapshot not written; the next one will be").pipe(
            Effect.annotateLogs({ streamId: id, version: at.version, error: error.message })
          )
        )
      )
    )
  }

  // A plain loop: loading a long stream decodes every event, and an effect per event would cost more
  // than the decoding.
  const decodeAll = (events: ReadonlyArray<RecordedEvent>) =>
    Effect.suspend(() => {
      const decoded: Array<Event> = []
      for (const event of events) {
        const result = definition.events.decode(event)
        if (Either.isLeft(result)) {
          return Effect.dieMessage(
            `${definition.streamType} ${id} v${event.version}: cannot read stored ${result.left.type} ` +
              `(schema version ${result.left.schemaVersion}): ${result.left.reason}`
          )
        }
        decoded.push(result.right)
      }
      return Effect.succeed(decoded)
    })

  /** Reads what the store has past `from` and folds it on. */
  const catchUp = (from: AggregateSnapshot<State>) =>
    store.readStream(id, { afterVersion: from.version }).pipe(
      Effect.flatMap((recorded) =>
        Effect.map(decodeAll(recorded), (events): AggregateSnapshot<State> => ({
          state: fold(definition.evolve, from.state, events),
          version: recorded.length > 0 ? recorded[recorded.length - 1]!.version : from.version
        }))
      ),
      Effect.tap((snapshot) => Effect.sync(() => (current = snapshot))),
      Effect.mapError(unavailable)
    )

  const initial: AggregateSnapshot<State> = { state: definition.initialState, version: 0 }

  /** The latest snapshot and the events after it, in one round trip; a full replay when the snapshot is not usable. */
  const loadFromSnapshot = (snapshotCodec: NonNullable<typeof codec>) =>
    Effect.gen(function*() {
      const loaded = yield* store.loadLatest(id).pipe(Effect.mapError(unavailable))
      if (Option.isNone(loaded.snapshot)) {
        const fresh = yield* foldOnto(initial, loaded.events)
        snapshotIfDue(0, fresh)
        return fresh
      }
      const stored = loaded.snapshot.value
      const problem = stored.schemaVersion !== snapshotCodec.schemaVersion
        ? Either.left(`schema version ${stored.schemaVersion}, not ${snapshotCodec.schemaVersion}`)
        : stored.version > loaded.streamVersion
        ? Either.left(`it claims version ${stored.version}, the stream has ${loaded.streamVersion}`)
        : snapshotCodec.decode(stored.state)
      if (Either.isLeft(problem)) {
        yield* Metric.increment(Metric.tagged(snapshotsRejected, "stream_type", definition.streamType))
        yield* Effect.logWarning("snapshot ignored; replaying the stream in full").pipe(
          Effect.annotateLogs({ streamType: definition.streamType, streamId: id, snapshotVersion: stored.version, reason: problem.left })
        )
        const replayed = yield* catchUp(initial)
        snapshotIfDue(0, replayed)
        return replayed
      }
      const fresh = yield* foldOnto({ state: problem.right, version: stored.version }, loaded.events)
      snapshotIfDue(stored.version, fresh)
      return fresh
    })

  /** Folds recorded events onto a snapshot and makes the result the actor's state. */
  const foldOnto = (from: AggregateSnapshot<State>, recorded: ReadonlyArray<RecordedEvent>) =>
    Effect.map(decodeAll(recorded), (events): AggregateSnapshot<State> => {
      current = {
        state: fold(definition.evolve, from.state, events),
        version: recorded.length > 0 ? recorded[recorded.length - 1]!.version : from.version
      }
      return current
    })

  const load = Effect.suspend(() =>
    current !== undefined
      ? Effect.succeed(current)
      : codec !== undefined
      ? loadFromSnapshot(codec)
      : catchUp(initial)
  )

  const replayedResult = (snapshot: AggregateSnapshot<State>, version: number): CommandResult<State, Event> => ({
    streamId: id,
    version,
    state: snapshot.state,
    events: [],
    replayed: true
  })

  const execute = (command: Command, options: CommandOptions) =>
    Effect.gen(function*() {
      let snapshot = yield* load

      /** The first answer to this request, when its idempotency key was used before (here or elsewhere). */
      const priorResult = Effect.gen(function*() {
        if (options.idempotency === undefined) return Option.none<CommandResult<State, Event>>()
        const claim = options.idempotency
        const prior = yield* store.findIdempotency(claim.key).pipe(Effect.mapError(unavailable))
        if (Option.isNone(prior)) return Option.none<CommandResult<State, Event>>()
        if (prior.value.requestHash !== claim.requestHash) return yield* new IdempotencyKeyReused({ key: claim.key })
        return Option.some(replayedResult(snapshot, prior.value.result.toVersion))
      })

      const first = yield* priorResult
      if (Option.isSome(first)) return first.value

      const expected = options.expectedVersion
      if (expected !== undefined && expected !== snapshot.version) {
        // A higher expected version may be right: another process can have appended since we cached.
        if (expected > snapshot.version) snapshot = yield* catchUp(snapshot)
        if (expected !== snapshot.version) {
          return yield* new VersionConflict({ streamId: id, expectedVersion: expected, actualVersion: snapshot.version })
        }
      }

      for (let attempt = 0;; attempt++) {
        const decision = definition.decide(command, snapshot.state)
        if (Either.isLeft(decision)) {
          const error = decision.left
          return yield* error._tag === "NotCreated"
            ? Effect.fail(new AggregateNotFound({ streamType: definition.streamType, id }))
            : Effect.fail(error)
        }
        const events = decision.right
        if (events.length === 0) {
          return { streamId: id, version: snapshot.version, state: snapshot.state, events, replayed: false }
        }
        let stateAfter = snapshot.state
        const newEvents = events.map((event): NewEvent => {
          stateAfter = definition.evolve(stateAfter, event)
          return {
            eventId: randomUUID(),
            ...definition.events.encode(event),
            metadata: options.metadata,
            notification: definition.notify?.(event, stateAfter)
          }
        })
        const outcome = yield* store.append({
          streamId: id,
          streamType: definition.streamType,
          expectedVersion: snapshot.version,
          events: newEvents,
          idempotency: options.idempotency
        }).pipe(
          Effect.map(Either.right),
          Effect.catchTag("VersionConflict", (conflict) => Effect.succeed(Either.left(conflict))),
          Effect.catchTag("SqlError", (error) =>
            // The append may or may not have committed: forget the cache so the next message reloads.
            Effect.zipRight(Effect.sync(() => (current = undefined)), Effect.fail(unavailable(error))))
        )

        if (Either.isRight(outcome)) {
          if (outcome.right._tag === "Replayed") {
            // The same request won a race through another process; report its result.
            return replayedResult(yield* catchUp(snapshot), outcome.right.result.toVersion)
          }
          const next: AggregateSnapshot<State> = {
            state: stateAfter,
            version: outcome.right.result.toVersion
          }
          current = next
          snapshotIfDue(snapshot.version, next)
          return { streamId: id, version: next.version, state: next.state, events, replayed: false }
        }

        // Another process appended to this stream since we loaded it, maybe this very request.
        snapshot = yield* catchUp(snapshot)
        const replayed = yield* priorResult
        if (Option.isSome(replayed)) return replayed.value
        if (expected !== undefined || attempt >= conflictRetries) {
          return yield* new VersionConflict({
            streamId: id,
            expectedVersion: expected ?? outcome.left.expectedVersion,
            actualVersion: snapshot.version
          })
        }
        yield* Effect.logDebug("version conflict, deciding again on the newer state").pipe(
          Effect.annotateLogs({ streamId: id, attempt: attempt + 1, version: snapshot.version })
        )
      }
    }).pipe(
      Effect.withSpan(`Actor.execute`, { attributes: { streamType: definition.streamType, streamId: id, command: command._tag } })
    ) as Effect.Effect<CommandResult<State, Event>, CommandError>

  const read = load.pipe(Effect.withSpan("Actor.read", { attributes: { streamType: definition.streamType, streamId: id } }))

  /**
   * Commands that were waiting together in the mailbox, decided in turn against the state each
   * leaves, their events appended in one transaction: one round trip for all of them. Each answer is
   * its own (its version, its state, its events, or the rule it broke). When another process
   * appended meanwhile, or the store failed, they go one by one through `execute`, which knows how
   * to catch up and retry. Commands with an expected version or an idempotency key always go alone.
   */
  const executeBatch = (
    items: ReadonlyArray<{ readonly command: Command; readonly options: CommandOptions }>
  ): Effect.Effect<ReadonlyArray<Exit.Exit<CommandResult<State, Event>, CommandError>>> =>
    Effect.gen(function*() {
      const alone = () => Effect.forEach(items, (item) => Effect.exit(execute(item.command, item.options)))
      if (items.length < 2) return yield* alone()
      const loaded = yield* Effect.either(load)
      if (Either.isLeft(loaded)) return items.map(() => Exit.fail(loaded.left))
      const start = loaded.right
      let state = start.state
      let version = start.version
      const decided: Array<Either.Either<CommandResult<State, Event>, CommandError>> = []
      const newEvents: Array<NewEvent> = []
      for (const item of items) {
        const decision = definition.decide(item.command, state)
        if (Either.isLeft(decision)) {
          const error = decision.left
          decided.push(Either.left(
            error._tag === "NotCreated" ? new AggregateNotFound({ streamType: definition.streamType, id }) : error
          ))
          continue
        }
        for (const event of decision.right) {
          state = definition.evolve(state, event)
          newEvents.push({
            eventId: randomUUID(),
            ...definition.events.encode(event),
            metadata: item.options.metadata,
            notification: definition.notify?.(event, state)
          })
        }
        version += decision.right.length
        decided.push(Either.right({ streamId: id, version, state, events: decision.right, replayed: false }))
      }
      if (newEvents.length > 0) {
        const appended = yield* Effect.either(
          store.append({ streamId: id, streamType: definition.streamType, expectedVersion: start.version, events: newEvents })
        )
        if (Either.isLeft(appended)) {
          current = undefined
          const failure = appended.left
          // Another process appended meanwhile: each command is decided again, on the newer state.
          if (failure._tag === "VersionConflict") return yield* alone()
          // The outcome is unknown (the append may have committed): report it, never apply twice.
          const error = failure._tag === "SqlError" ? unavailable(failure) : failure
          return items.map(() => Exit.fail<CommandError>(error))
        }
        current = { state, version }
        snapshotIfDue(start.version, current)
      }
      return decided.map((result) => Either.match(result, { onLeft: Exit.fail, onRight: Exit.succeed }))
    }).pipe(
      Effect.withSpan("Actor.executeBatch", { attributes: { streamType: definition.streamType, streamId: id, commands: items.length } })
    )

  return { execute, executeBatch, read } as const
}
