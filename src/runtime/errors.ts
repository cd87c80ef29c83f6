/** Failures a caller of the actor runtime can act on; mapped to HTTP statuses in src/http/errors.ts. */
import { Data } from "effect"

export { NotCreated, RuleViolated } from "../domain/aggregate.js"
export { AppendOutcomeUnknown, IdempotencyKeyReused, StoreUnavailable, VersionConflict } from "../eventstore/EventStore.js"

export class AggregateNotFound extends Data.TaggedError("AggregateNotFound")<{
  readonly streamType: string
  readonly id: string
}> {}

/** The actor's mailbox is full: the caller should back off and retry. */
export class Overloaded extends Data.TaggedError("Overloaded")<{
  readonly streamType: string
  readonly id: string
  readonly retryAfterSeconds: number
}> {}

/** The runtime is stopping and takes no new commands; another instance (or this one, restarted) will. */
export class ShuttingDown extends Data.TaggedError("ShuttingDown")<{}> {}


/**
 * The node that owns the aggregate could not be asked: none owns its shard yet (one died, and the
 * others have not taken its shards), or it did not answer in time. Nothing was decided: retry.
 */
export class OwnerUnavailable extends Data.TaggedError("OwnerUnavailable")<{
  readonly streamType: string
  readonly id: string
  readonly message: string
}> {}
