/**
 * Time travel: an aggregate's state as it was at a version, or at a moment — the fold of its history
 * up to there, read from the store (the actor's hot state is only ever the latest).
 */
import { Effect, Either } from "effect"
import { type AggregateDefinition, streamIdOf } from "../domain/aggregate.js"
import type { EventStoreShape } from "../eventstore/EventStore.js"
import type { AggregateSnapshot } from "./AggregateActor.js"
import { StoreUnavailable } from "./errors.js"
import { foldHistory } from "./replay.js"

export type PointInTime =
  | { readonly _tag: "AtVersion"; readonly version: number }
  | { readonly _tag: "At"; readonly moment: Date }

/** The state at `point`; version 0 when the aggregate had no history then. */
export const stateAt = <State, Command extends { readonly _tag: string }, Event extends { readonly _tag: string }>(
  definition: AggregateDefinition<State, Command, Event>,
  store: EventStoreShape,
  id: string,
  point: PointInTime
): Effect.Effect<AggregateSnapshot<State>, StoreUnavailable> =>
  store.readHistory(streamIdOf(definition, id), point._tag === "AtVersion" ? { toVersion: point.version } : { recordedUntil: point.moment }).pipe(
    Effect.mapError((error) => new StoreUnavailable({ message: `event store failed: ${error.message}` })),
    Effect.flatMap((recorded) =>
      Either.match(foldHistory(definition, id, { state: definition.initialState, version: 0 }, recorded), {
        onLeft: Effect.dieMessage,
        onRight: Effect.succeed
      })
    ),
    Effect.withSpan("Runtime.stateAt", { attributes: { streamType: definition.streamType, streamId: id, point: point._tag } })
  )
