/**
 * The one decision path of the runtime: commands decided in turn, each against the state the ones
 * before it left, giving each its own outcome and, for all of them together, the events to append
 * in one go. A single command is a batch of one. Pure but for the ids of unnamed commands' events:
 * `eventId(commandId, index)` gives them (from the metadata's commandId, see commandIds.ts).
 */
import { Either } from "effect"
import type { AggregateDefinition, DomainError } from "../domain/aggregate.js"
import type { EventMetadata, NewEvent } from "../eventstore/EventStore.js"

export interface Decided<State, Event> {
  /** The stream's version once this command's events (and those of the commands before it) are appended. */
  readonly version: number
  /** The state this command leaves. */
  readonly state: State
  readonly events: ReadonlyArray<Event>
}

export interface Decision<State, Event> {
  /** Per command, in order: what it decided, or the rule it broke. */
  readonly outcomes: ReadonlyArray<Either.Either<Decided<State, Event>, DomainError>>
  /** The events of every accepted command, in order, ready to append. */
  readonly newEvents: ReadonlyArray<NewEvent>
  /** State and version after all of them. */
  readonly state: State
  readonly version: number
}

export const decideInTurn = <State, Command extends { readonly _tag: string }, Event extends { readonly _tag: string }>(
  definition: AggregateDefinition<State, Command, Event>,
  from: { readonly state: State; readonly version: number },
  items: ReadonlyArray<{ readonly command: Command; readonly metadata: EventMetadata }>,
  eventId: (commandId: string | undefined, index: number) => string
): Decision<State, Event> => {
  let state = from.state
  let version = from.version
  const outcomes: Array<Either.Either<Decided<State, Event>, DomainError>> = []
  const newEvents: Array<NewEvent> = []
  for (const { command, metadata } of items) {
    const decision = definition.decide(command, state)
    if (Either.isLeft(decision)) {
      outcomes.push(Either.left(decision.left))
      continue
    }
    for (const [index, event] of decision.right.entries()) {
      state = definition.evolve(state, event)
      newEvents.push({
        eventId: eventId(metadata.commandId, index),
        ...definition.events.encode(event),
        metadata,
        notification: definition.notify?.(event, state)
      })
    }
    version += decision.right.length
    outcomes.push(Either.right({ version, state, events: decision.right }))
  }
  return { outcomes, newEvents, state, version }
}
