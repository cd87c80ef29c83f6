/**
 * What one actor does with its messages: keep its aggregate's state and version hot, decide commands
 * against them and append the events with the version they were decided on. The actor's mailbox and
 * fiber live in ActorSystem; everything here runs on that one fiber, one message at a time, so the
 * cached state needs no lock.
 */
import type { SqlError } from "@effect/sql"
import { Effect, Either, Exit, Metric, Option } from "effect"
import { type AggregateDefinition, type DomainError, streamIdOf } from "../domain/aggregate.js"
import type { AppendOutcome, EventMetadata, EventStoreShape, HistoryEvent, IdempotencyClaim } from "../eventstore/EventStore.js"
import { spannedPerTrace, withParentFrom } from "../observability/traceContext.js"
import { commandEventId } from "./commandIds.js"
import { type Decided, decideInTurn } from "./decide.js"
import { foldHistory, type Versioned } from "./replay.js"
import {
  AggregateNotFound,
  type AppendOutcomeUnknown,
  IdempotencyKeyReused,
  type RuleViolated,
  StoreUnavailable,
  VersionConflict
} from "./errors.js"

export interface CommandOptions {
  /**
   * The principal the command is admitted for, when only the aggregate's owner (its definition's
   * `ownerOf`) may give it. Anyone else is answered AggregateNotFound, exactly as for an aggregate
   * that does not exist, and before anything else (a version, a prior result) could tell that it
   * does. Data, not a function, so that a command can be sent to the node that holds its aggregate.
   */
  readonly onlyFor?: string | undefined
  /** The version the caller's decision rests on (If-Match); a different version is a conflict, never retried. */
  readonly expectedVersion?: number | undefined
  /** A retry with the same key and request returns the first result and appends nothing. */
  readonly idempotency?: IdempotencyClaim | undefined
  readonly metadata: EventMetadata
  /**
   * The caller made the stream's id just now (a random UUID): nothing can be stored under it, so an
   * actor not yet loaded starts from the initial state without reading. Were something stored after
   * all, the append's version guard would refuse it and the command would be decided on what is.
   */
  readonly newStream?: boolean | undefined
}

/** An aggregate's state and the version it is at. */
export type AggregateSnapshot<State> = Versioned<State>

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
  | AppendOutcomeUnknown

const unavailable = (error: SqlError.SqlError) =>
  new StoreUnavailable({ message: `event store failed: ${String(error.cause ?? error.message)}` })

/**
 * When this actor writes snapshots. What they hold and how many are kept is the definition's
 * (`snapshots`); the interval is settled by the caller (the definition's, or an operator's override).
 */
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
/** Near zero while each aggregate is decided on one node only: a retry means another writer moved the stream. */
const conflictRetries = Metric.counter("actor_conflict_retries_total", {
  description: "Commands decided again after a version conflict (another writer appended to the stream first)",
  incremental: true
})

/**
 * What an actor keeps between messages: its aggregate's id and cached state — all an idle actor costs.
 * The behaviour below is made for it only while it has messages to handle.
 */
export interface ActorState<State> {
  readonly id: string
  /** undefined until loaded, and again after a store failure left the outcome unknown. */
  current: AggregateSnapshot<State> | undefined
}

export const makeAggregateActor = <State, Command extends { readonly _tag: string }, Event extends { readonly _tag: string }>(
  definition: AggregateDefinition<State, Command, Event>,
  store: EventStoreShape,
  cached: ActorState<State>,
  maxConflictRetries: number,
  snapshots: SnapshotPolicy = { every: 0, background: () => undefined }
) => {
  const { id } = cached
  /** Where its events are stored (the id itself, unless the definition names its streams). */
  const streamId = streamIdOf(definition, id)
  const retried = Metric.increment(Metric.tagged(conflictRetries, "stream_type", definition.streamType))
  const codec = snapshots.every > 0 ? definition.snapshots?.codec : undefined
  const keep = definition.snapshots?.keep ?? 1

  /** Writes a snapshot of `at` in the background when it crossed a multiple of `every` since `from`. */
  const snapshotIfDue = (fromVersion: number, at: AggregateSnapshot<State>) => {
    if (codec === undefined || Math.floor(at.version / snapshots.every) === Math.floor(fromVersion / snapshots.every)) return
    snapshots.background(
      store.saveSnapshot({
        streamId,
        streamType: definition.streamType,
        version: at.version,
        schemaVersion: codec.schemaVersion,
        state: codec.encode(at.state),
        keep
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

  /** Folds recorded events onto a snapshot and makes the result the actor's state. */
  const foldOnto = (from: AggregateSnapshot<State>, recorded: ReadonlyArray<HistoryEvent>) =>
    Either.match(foldHistory(definition, id, from, recorded), {
      onLeft: Effect.dieMessage,
      onRight: (folded) => Effect.sync(() => (cached.current = folded))
    })

  /** Reads what the store has past `from` and folds it on. */
  const catchUp = (from: AggregateSnapshot<State>) =>
    store.readHistory(streamId, { afterVersion: from.version }).pipe(
      Effect.mapError(unavailable),
      Effect.flatMap((recorded) => foldOnto(from, recorded))
    )

  const initial: AggregateSnapshot<State> = { state: definition.initialState, version: 0 }

  /** The latest snapshot and the events after it, in one round trip; a full replay when the snapshot is not usable. */
  const loadFromSnapshot = (snapshotCodec: NonNullable<typeof codec>) =>
    Effect.gen(function*() {
      const loaded = yield* store.loadLatest(streamId).pipe(Effect.mapError(unavailable))
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

  /** A stream the caller just named has no history to read. */
  const startIfNew = (options: CommandOptions) => {
    if (cached.current === undefined && options.newStream === true) cached.current = initial
  }

  const load = Effect.suspend(() =>
    cached.current !== undefined
      ? Effect.succeed(cached.current)
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

  const refusal = (error: DomainError): CommandError =>
    error._tag === "NotCreated" ? new AggregateNotFound({ streamType: definition.streamType, id }) : error

  const toResult = (decided: Decided<State, Event>): CommandResult<State, Event> => ({ streamId: id, ...decided, replayed: false })

  /**
   * Decides the commands in turn on `from` and appends what they decided, in one append. After any
   * failure to append, the cache is dropped: a conflict means the stream moved, a store failure that
   * it may have (the store has already resolved what it could by the events' ids).
   */
  const decideAndAppend = (
    items: ReadonlyArray<{ readonly command: Command; readonly options: CommandOptions }>,
    from: AggregateSnapshot<State>,
    idempotency?: CommandOptions["idempotency"]
  ) =>
    Effect.gen(function*() {
      const decision = decideInTurn(
        definition,
        from,
        items.map((item) => ({ command: item.command, metadata: item.options.metadata })),
        commandEventId
      )
      if (decision.newEvents.length === 0) return { decision, appended: Option.none<AppendOutcome>() }
      const appended = yield* store.append({
        streamId,
        streamType: definition.streamType,
        expectedVersion: from.version,
        events: decision.newEvents,
        idempotency
      }).pipe(Effect.tapError(() => Effect.sync(() => (cached.current = undefined))))
      if (appended._tag === "Appended") {
        cached.current = { state: decision.state, version: decision.version }
        snapshotIfDue(from.version, cached.current)
      }
      return { decision, appended: Option.some(appended) }
    })

  /** Whether the store holds events past `snapshot` (one index probe): another process appended. */
  const isBehind = (snapshot: AggregateSnapshot<State>) =>
    store.streamVersion(streamId).pipe(
      Effect.map((head) => head > snapshot.version),
      Effect.mapError(unavailable)
    )

  /**
   * The stream's version after the command, when a command of this name was applied before: one
   * indexed probe, for named commands only. A command decided again after its answer was lost (the
   * node that held it died, say) is answered as replayed, not refused for what it did itself
   * (a second Confirm would break a rule the first one made true).
   */
  const appliedBefore = (options: CommandOptions) => {
    const commandId = options.metadata.commandId
    return commandId === undefined
      ? Effect.succeedNone
      : store.appliedThrough(commandEventId(commandId, 0)).pipe(Effect.mapError(unavailable))
  }

  /** A refusal, unless the command was applied before: then its earlier result. */
  const refuseUnlessApplied = (options: CommandOptions, error: DomainError, snapshot: AggregateSnapshot<State>) =>
    Effect.flatMap(appliedBefore(options), (applied) =>
      Option.isSome(applied) ? Effect.succeed(replayedResult(snapshot, applied.value)) : Effect.fail(refusal(error)))

  /** Whether a command with these options is admitted to the aggregate in this state. */
  const admitted = (options: CommandOptions, state: State) =>
    options.onlyFor === undefined || definition.ownerOf?.(state) === options.onlyFor

  /** Whether the command's caller is admitted to the aggregate; a stale cache is caught up before it says no. */
  const admits = (options: CommandOptions, snapshot: AggregateSnapshot<State>) =>
    Effect.gen(function*() {
      if (admitted(options, snapshot.state)) return snapshot
      // Another process may have created it since this actor loaded.
      const latest = (yield* isBehind(snapshot)) ? yield* catchUp(snapshot) : snapshot
      if (admitted(options, latest.state)) return latest
      return yield* new AggregateNotFound({ streamType: definition.streamType, id })
    })

  /**
   * One command, alone: answered from its idempotency key when that was used before, refused at once
   * when its expected version is not the state's, and decided again on the newer state when another
   * process appended meanwhile (unless the caller gave a version).
   */
  const execute = (command: Command, options: CommandOptions) =>
    Effect.gen(function*() {
      startIfNew(options)
      let snapshot = yield* admits(options, yield* load)

      /** The first answer to this request, when its idempotency key was used before (here or elsewhere). */
      const priorResult = Effect.gen(function*() {
        if (options.idempotency === undefined) return Option.none<CommandResult<State, Event>>()
        const claim = options.idempotency
        const prior = yield* store.findIdempotency(claim).pipe(Effect.mapError(unavailable))
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
          // Past the version it rests on: maybe because this very command moved it, decided before.
          const applied = expected < snapshot.version ? yield* appliedBefore(options) : Option.none<number>()
          if (Option.isSome(applied)) return replayedResult(snapshot, applied.value)
          return yield* new VersionConflict({ streamId: id, expectedVersion: expected, actualVersion: snapshot.version })
        }
      }

      for (let attempt = 0;; attempt++) {
        const outcome = yield* Effect.either(decideAndAppend([{ command, options }], snapshot, options.idempotency))
        if (Either.isRight(outcome)) {
          const { appended, decision } = outcome.right
          const decided = decision.outcomes[0]!
          if (Either.isLeft(decided)) {
            // A refusal appends nothing, so no version guard checks the state it was decided on:
            // the stream's head does. Behind it, the actor catches up and decides again (as often
            // as after a conflict).
            if (attempt >= maxConflictRetries || !(yield* isBehind(snapshot))) {
              return yield* refuseUnlessApplied(options, decided.left, snapshot)
            }
            snapshot = yield* catchUp(snapshot)
            if (expected !== undefined) {
              return yield* new VersionConflict({ streamId: id, expectedVersion: expected, actualVersion: snapshot.version })
            }
            continue
          }
          if (Option.isSome(appended) && appended.value._tag === "Replayed") {
            // The same request won a race through another process; report its result.
            return replayedResult(yield* catchUp(snapshot), appended.value.result.toVersion)
          }
          if (Option.isSome(appended) && appended.value._tag === "AlreadyApplied") {
            // This very command was applied before: its events are there, under their ids.
            const latest = yield* catchUp(snapshot)
            return replayedResult(latest, Option.getOrElse(yield* appliedBefore(options), () => latest.version))
          }
          return toResult(decided.right)
        }
        const failure = outcome.left
        if (failure._tag !== "VersionConflict") return yield* Effect.fail(failure)

        // Another process appended to this stream since we loaded it, maybe this very request.
        snapshot = yield* catchUp(snapshot)
        const replayed = yield* priorResult
        if (Option.isSome(replayed)) return replayed.value
        if (expected !== undefined || attempt >= maxConflictRetries) {
          return yield* new VersionConflict({
            streamId: id,
            expectedVersion: expected ?? failure.expectedVersion,
            actualVersion: snapshot.version
          })
        }
        yield* retried
        yield* Effect.logDebug("version conflict, deciding again on the newer state").pipe(
          Effect.annotateLogs({ streamId: id, attempt: attempt + 1, version: snapshot.version })
        )
      }
    }).pipe(
      Effect.withSpan(`Actor.execute`, {
        attributes: { streamType: definition.streamType, streamId: id, command: command._tag },
        captureStackTrace: false
      }),
      // The actor's fiber is not the caller's: the command's trace comes with it.
      withParentFrom(options.metadata)
    ) as Effect.Effect<CommandResult<State, Event>, CommandError>

  /**
   * The state as the store has it now: the cache, unless another process appended since — one index
   * probe of the stream's head tells, and the actor catches up. Without it a read on one node would
   * answer a state another node has moved past, for as long as reads keep the actor alive.
   */
  const read = Effect.gen(function*() {
    const known = cached.current
    if (known === undefined) return yield* load
    return (yield* isBehind(known)) ? yield* catchUp(known) : known
  }).pipe(Effect.withSpan("Actor.read", { attributes: { streamType: definition.streamType, streamId: id }, captureStackTrace: false }))

  /**
   * Commands that were waiting together in the mailbox, decided in turn against the state each
   * leaves, their events appended in one transaction: one round trip for all of them. Each answer is
   * its own (its version, its state, its events, or the rule it broke). When another process
   * appended meanwhile, they go one by one through `execute`, which catches up and decides again.
   * When the append's outcome is unknown, every command in it hears so: none is decided again.
   * Commands with an expected version or an idempotency key always go alone.
   */
  const executeBatch = (
    items: ReadonlyArray<{ readonly command: Command; readonly options: CommandOptions }>
  ): Effect.Effect<ReadonlyArray<Exit.Exit<CommandResult<State, Event>, CommandError>>> =>
    Effect.gen(function*() {
      const alone = () => Effect.forEach(items, (item) => Effect.exit(execute(item.command, item.options)))
      if (items.length < 2) return yield* alone()
      for (const item of items) startIfNew(item.options)
      const loaded = yield* Effect.either(load)
      if (Either.isLeft(loaded)) return items.map(() => Exit.fail(loaded.left))
      // A caller not admitted is answered alone, where a stale cache is caught up first.
      if (items.some(({ options }) => !admitted(options, loaded.right.state))) return yield* alone()
      const outcome = yield* Effect.either(decideAndAppend(items, loaded.right))
      if (Either.isLeft(outcome)) {
        const failure = outcome.left
        if (failure._tag === "VersionConflict") return yield* Effect.zipRight(retried, alone())
        return items.map(() => Exit.fail<CommandError>(failure))
      }
      // Refusals with nothing appended were decided on the cache alone: if another process moved
      // the stream, every command goes alone, and each is decided on the newer state.
      const { appended, decision } = outcome.right
      // A command of the batch was applied before: each is answered alone, that one as replayed.
      if (Option.isSome(appended) && appended.value._tag === "AlreadyApplied") return yield* alone()
      if (Option.isNone(appended) && decision.outcomes.some(Either.isLeft)) {
        const behind = yield* Effect.either(isBehind(loaded.right))
        if (Either.isLeft(behind)) return items.map(() => Exit.fail(behind.left))
        if (behind.right) return yield* alone()
      }
      return yield* Effect.forEach(decision.outcomes, (decided, i) =>
        Either.isRight(decided)
          ? Effect.succeed(Exit.succeed(toResult(decided.right)))
          : Effect.exit(refuseUnlessApplied(items[i]!.options, decided.left, cached.current ?? loaded.right)))
    }).pipe(
      spannedPerTrace("Actor.executeBatch", items.map((item) => item.options.metadata), {
        kind: "internal",
        attributes: { streamType: definition.streamType, streamId: id, commands: items.length }
      })
    )

  return { execute, executeBatch, read } as const
}
