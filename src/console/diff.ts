/**
 * What each event changed: the aggregate's state before and after it, folded with the aggregate's
 * own definition (decode through the upcasters, then `evolve`, as the runtime and time travel do),
 * and the difference between the two as a list of changed paths. Pure: events in, changes out.
 */
import { Either } from "effect"
import microdiff from "microdiff"
import type { AggregateDefinition } from "../domain/aggregate.js"
import type { HistoryEvent } from "../eventstore/EventStore.js"

/** One difference between two states, at a path such as `lines[0].quantity`. */
export type Change =
  | { readonly kind: "added"; readonly path: string; readonly after: unknown }
  | { readonly kind: "removed"; readonly path: string; readonly before: unknown }
  | { readonly kind: "changed"; readonly path: string; readonly before: unknown; readonly after: unknown }

const pathText = (path: ReadonlyArray<string | number>) =>
  path.reduce<string>((text, key) => typeof key === "number" ? `${text}[${key}]` : text === "" ? key : `${text}.${key}`, "")

/** Plain data only: a state is JSON-shaped, and a Date or class instance compares by its JSON form. */
const plain = (value: unknown): Record<string, unknown> => {
  const json: unknown = JSON.parse(JSON.stringify(value ?? {}))
  return typeof json === "object" && json !== null ? json as Record<string, unknown> : { value: json }
}

/** The differences from `before` to `after`, in microdiff's order (depth first, keys as they come). */
export const stateChanges = (before: unknown, after: unknown): ReadonlyArray<Change> =>
  microdiff(plain(before), plain(after)).map((difference): Change => {
    const path = pathText(difference.path)
    switch (difference.type) {
      case "CREATE":
        return { kind: "added", path, after: difference.value }
      case "REMOVE":
        return { kind: "removed", path, before: difference.oldValue }
      case "CHANGE":
        return { kind: "changed", path, before: difference.oldValue, after: difference.value }
    }
  })

/** An event with the state it led to and what it changed. */
export interface Step<State, E extends HistoryEvent> {
  readonly event: E
  readonly state: State
  readonly changes: ReadonlyArray<Change>
}

/**
 * Folds the events (a stream's whole history, in order) and gives each with the state after it and
 * its changes; fails with a message naming the version when a stored event cannot be read.
 */
export const replayWithChanges = <State, Command extends { readonly _tag: string }, Event extends { readonly _tag: string }, E extends HistoryEvent>(
  definition: AggregateDefinition<State, Command, Event>,
  events: ReadonlyArray<E>
): Either.Either<ReadonlyArray<Step<State, E>>, string> => {
  const steps: Array<Step<State, E>> = []
  let state = definition.initialState
  for (const event of events) {
    const decoded = definition.events.decode(event)
    if (Either.isLeft(decoded)) {
      return Either.left(`version ${event.version}: cannot read stored ${decoded.left.type} (schema version ${decoded.left.schemaVersion}): ${decoded.left.reason}`)
    }
    const next = definition.evolve(state, decoded.right)
    steps.push({ event, state: next, changes: stateChanges(state, next) })
    state = next
  }
  return Either.right(steps)
}
