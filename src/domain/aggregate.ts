/**
 * The generic aggregate definition: what the runtime, the event store and the edges need to know
 * about one kind of aggregate. Shaped like Akka Persistence Typed — the command handler (`decide`),
 * the event handler (`evolve`) and the event catalogue are separate, declared parts — and like a
 * decider: pure functions of their inputs, with time and ids coming in on the command.
 */
import { Data, type Either } from "effect"
import type { EventCatalog } from "./events.js"

/** A business rule refused the command. `rule` is a stable, machine-readable name. */
export class RuleViolated extends Data.TaggedError("RuleViolated")<{
  readonly rule: string
  readonly message: string
}> {}

/** The command addresses an aggregate that has no history (it was never created). */
export class NotCreated extends Data.TaggedError("NotCreated")<{
  readonly message: string
}> {}

export type DomainError = RuleViolated | NotCreated

/**
 * What a customer is told about an event, in the domain's words: the outbox turns it into a push
 * notification task. `name` is the happening (`shipped`), unique within the stream type.
 */
export interface Notification {
  readonly name: string
  /** The customer to tell. */
  readonly customerId: string
  readonly details: Readonly<Record<string, string | number>>
}

export interface AggregateDefinition<State, Command extends { readonly _tag: string }, Event extends { readonly _tag: string }> {
  /** Stream type: names the aggregate kind in the store and in topics (`<streamType>.events`). */
  readonly streamType: string
  readonly initialState: State
  readonly decide: (command: Command, state: State) => Either.Either<ReadonlyArray<Event>, DomainError>
  readonly evolve: (state: State, event: Event) => State
  readonly events: EventCatalog<Event>
  /**
   * The events a customer should hear about, given the state each one led to; undefined for the
   * rest. Called when the event is appended, so the notification commits with it.
   */
  readonly notify?: (event: Event, state: State) => Notification | undefined
  /**
   * The aggregate's snapshot policy, declared with it as Akka's `snapshotEvery(n, keepN)` is:
   * without it the aggregate is always replayed in full. An operator may change `every` by setting
   * (SNAPSHOT_EVERY_<TYPE>, then SNAPSHOT_EVERY); the rest is the aggregate's own.
   */
  readonly snapshots?: {
    /** How the state is kept in a snapshot. */
    readonly codec: SnapshotCodec<State>
    /**
     * Events between snapshots: one is taken each time the stream's version crosses a multiple of it
     * (0: none). A snapshot costs a write; each event after the newest costs a fold when loading.
     */
    readonly every: number
    /**
     * Snapshots kept per aggregate: the one just taken and the `keep - 1` newest before it (at least
     * 1; loading reads only the newest). Saving one drops the older rest.
     */
    readonly keep: number
  }
  /**
   * Whose the aggregate is in this state (null: nobody's yet): a command meant only for its owner
   * (CommandOptions.onlyFor) is admitted when this names them. Without it no such command is.
   */
  readonly ownerOf?: (state: State) => string | null
  /**
   * The stream an aggregate's events are stored in. Stream ids are one namespace for every aggregate
   * type, so a type whose ids may equal another's (a payment and a saga are one per order, under the
   * order's id; a SKU is any string) names its streams `<category>-<id>`. Without it, the id itself:
   * for ids unique on their own (order ids are UUIDs).
   */
  readonly streamIdOf?: (id: string) => string
}

/** A state's snapshot form. A snapshot of another schema version, or one that fails to decode, is ignored. */
export interface SnapshotCodec<State> {
  /** Bump it when the state's shape changes. */
  readonly schemaVersion: number
  readonly encode: (state: State) => unknown
  /** The state, or why the stored form is not one. */
  readonly decode: (stored: unknown) => Either.Either<State, string>
}

export type AnyAggregate = AggregateDefinition<any, any, any>

export type StateOf<A> = A extends AggregateDefinition<infer S, any, any> ? S : never
export type CommandOf<A> = A extends AggregateDefinition<any, infer C, any> ? C : never
export type EventOf<A> = A extends AggregateDefinition<any, any, infer E> ? E : never

/** The stream an aggregate of this definition is stored in. */
export const streamIdOf = (definition: AnyAggregate, id: string): string => definition.streamIdOf?.(id) ?? id

/** Streams named `<streamType>-<id>`: for an aggregate whose ids may equal another type's. */
export const categoryStreams = (streamType: string) => (id: string) => `${streamType}-${id}`

/** Folds a history onto a state: the one way state is ever derived from events. */
export const fold = <State, Event>(
  evolve: (state: State, event: Event) => State,
  state: State,
  events: Iterable<Event>
): State => {
  let current = state
  for (const event of events) current = evolve(current, event)
  return current
}
