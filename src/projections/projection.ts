/**
 * The generic projection definition: what the projector, the rebuild and the quarantine need to know
 * about one read model, declared as a value (as Emmett declares its projections). The projector runs
 * each registered definition (src/projections.ts) as a Kafka consumer group of its own; nothing in
 * it knows what a read model holds. The effects keep their requirements in their type: the registry
 * provides them (the read model's store, the event store, the database).
 */
import type { Effect } from "effect"
import type { EventEnvelope } from "../messaging/contracts.js"

/** What applying one batch did: the projector's metrics and lag are counted from it. */
export interface ProjectedBatch {
  readonly applied: number
  /** At or below what the read model holds already: duplicates and replays. */
  readonly skipped: number
  /** Missing events read from the event store to fill a gap. */
  readonly filled: number
  /**
   * One entry per read-model row written: when the latest event folded into it was committed (ISO
   * 8601, as the event store recorded it). The projection lag of each row is measured from it.
   */
  readonly writtenAsOf: ReadonlyArray<string>
}

export interface RebuildProgress {
  readonly done: number
  readonly total: number
}

/** A finished rebuild: how many events were replayed. */
export interface Rebuilt {
  readonly events: number
}

export interface Projection<out E, out R> {
  /**
   * Names the read model to operators: the consumer group `<prefix>projector.<name>`, the quarantine
   * source `projector:<name>`, the `projection` label of the projector's metrics, and the argument of
   * `projections rebuild`. Changing it starts a new consumer group, which reads every topic again
   * from the beginning.
   */
  readonly name: string
  /** The aggregates' stream types it reads: it consumes their topics, `<prefix><streamType>.events`. */
  readonly streamTypes: ReadonlyArray<string>
  /**
   * Applies a batch of events, in their order within each stream, all or nothing. It is given each
   * event at least once and perhaps again (a replayed batch, a duplicate), and must be idempotent;
   * it fails, and is retried, rather than skip what it cannot apply yet.
   */
  readonly apply: (events: ReadonlyArray<EventEnvelope>) => Effect.Effect<ProjectedBatch, E, R>
  /**
   * Builds the read model again from the event store, the source of truth, while the projector and
   * the queries go on; reports its progress as it goes.
   */
  readonly rebuild: (onProgress?: (progress: RebuildProgress) => void) => Effect.Effect<Rebuilt, E, R>
}

export declare namespace Projection {
  /** Any projection, whatever its errors and requirements. */
  export type Any = Projection<unknown, any>
  /** The errors of a projection's effects (of each, for a union of projections). */
  export type Error<P> = P extends Projection<infer E, infer _R> ? E : never
  /** What a projection's effects require (of each, for a union of projections). */
  export type Context<P> = P extends Projection<infer _E, infer R> ? R : never
}

/**
 * A projection definition, checked, with its own type kept: its errors and requirements are those
 * of its effects (see Projection.Error and Projection.Context), its name a literal.
 */
export const makeProjection = <const P extends Projection.Any>(definition: P): P => definition

/** The consumer group a projection is run in. */
export const projectorGroupId = (prefix: string, name: string) => `${prefix}projector.${name}`
