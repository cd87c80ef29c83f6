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

/** After a version, at a moment, or at whichever of the two came first. */
export type PointInTime =
  | { readonly _tag: "AtVersion"; readonly version: number }
  | { readonly _tag: "At"; readonly moment: Date }
  | { readonly _tag: "AtVersionBy"; readonly version: number; readonly moment: Date }

const rangeOf = (point: PointInTime) => {
  switch (point._tag) {
    case "AtVersion":
      return { toVersion: point.version }
    case "At":
      return { recordedUntil: point.moment }
    case "AtVersionBy":
      return { toVersion: point.version, recordedUntil: point.moment }
  }
}

/** The state at `point`; version 0 when the aggregate had no history then. */
export const stateAt = <State, Command extends { readonly _tag: string }, Event extends { readonly _tag: string }>(
  definition: AggregateDefinition<State, Command, Event>,
  store: EventStoreShape,
  id: string,
  point: PointInTime
): Effect.Effect<AggregateSnapshot<State>, StoreUnavailable> =>
  store.readHistory(streamIdOf(definition, id), rangeOf(point)).pipe(
    Effect.mapError((error) => new StoreUnavailable({ message: `event store failed: ${error.message}` })),
    Effect.flatMap((recorded) =>
      Either.match(foldHistory(definition, id, { state: definition.initialState, version: 0 }, recorded), {
        onLeft: Effect.dieMessage,
        onRight: Effect.succeed
      })
    ),
    Effect.withSpan("Runtime.stateAt", { attributes: { streamType: definition.streamType, streamId: id, point: point._tag } })
  )
