/**
 * What one actor does with its messages: keep its aggregate's state and version hot, decide commands
 * against them and append the events with the version they were decided on. The actor's mailbox and
 * fiber live in ActorSystem; everything here runs on that one fiber, one message at a time, so the
 * cached state needs no lock.
 */
import type { SqlError } from "@effect/sql"
import { Effect, Either, Option } from "effect"
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

export const makeAggregateActor = <State, Command extends { readonly _tag: string }, Event extends { readonly _tag: string }>(
  definition: AggregateDefinition<State, Command, Event>,
  store: EventStoreShape,
  id: string,
  conflictRetries: number
) => {
  /** undefined until loaded, and again after a store failure left the outcome unknown. */
  let current: AggregateSnapshot<State> | undefined

  const decodeAll = (events: ReadonlyArray<RecordedEvent>) =>
    Effect.forEach(events, (event) =>
      Either.match(definition.events.decode(event), {
        onLeft: (error) =>
          Effect.dieMessage(
            `${definition.streamType} ${id} v${event.version}: cannot read stored ${error.type} ` +
              `(schema version ${error.schemaVersion}): ${error.reason}`
          ),
        onRight: Effect.succeed
      }))

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

  const load = Effect.suspend(() =>
    current !== undefined ? Effect.succeed(current) : catchUp({ state: definition.initialState, version: 0 })
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

  return { execute, read } as const
}
