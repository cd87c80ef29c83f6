/**
 * Replay: folding a stream's history onto a state, the one loop behind loading an actor, catching up
 * and time travel.
 * Pure: the events in, the state and version out, or which event could not be read.
 */
import { Either } from "effect"
import type { AggregateDefinition } from "../domain/aggregate.js"
import type { HistoryEvent } from "../eventstore/EventStore.js"

export interface Versioned<State> {
  readonly state: State
  readonly version: number
}

/**
 * Decodes each event (through the upcasters) and folds it on, in a plain loop: loading a long stream
 * does this for every event, and an effect or an intermediate array per event costs more than the
 * decoding. Fails with a message naming the stream, the version and why it cannot be read.
 */
export const foldHistory = <State, Command extends { readonly _tag: string }, Event extends { readonly _tag: string }>(
  definition: AggregateDefinition<State, Command, Event>,
  id: string,
  from: Versioned<State>,
  events: ReadonlyArray<HistoryEvent>
): Either.Either<Versioned<State>, string> => {
  let state = from.state
  for (const event of events) {
    const decoded = definition.events.decode(event)
    if (Either.isLeft(decoded)) {
      return Either.left(
        `${definition.streamType} ${id} v${event.version}: cannot read stored ${decoded.left.type} ` +
          `(schema version ${decoded.left.schemaVersion}): ${decoded.left.reason}`
      )
    }
    state = definition.evolve(state, decoded.right)
  }
  return Either.right({ state, version: events.length > 0 ? events[events.length - 1]!.version : from.version })
}
