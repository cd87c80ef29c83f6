/**
 * The event store: append to a stream with an expected version, read a stream, read the whole log in
 * an order that never skips a late commit. The interface is storage-neutral; PgEventStore implements it.
 */
import type { SqlError } from "@effect/sql"
import { Context, Data, type Effect, type Option } from "effect"
import type { Notification } from "../domain/aggregate.js"
import type { StoredEventData } from "../domain/events.js"

export interface EventMetadata {
  readonly correlationId: string
  readonly causationId: string | null
  /** Who asked for it: the subject of the caller's token; null when no one did (a process of its own). */
  readonly userId: string | null
  /** The role that allowed it (customer, staff, admin, service), with userId. */
  readonly role?: string | undefined
  /**
   * The command that decided the event, when its caller named it (every HTTP command is named): its
   * events' ids derive from it, so the same command decided twice cannot be stored twice.
   */
  readonly commandId?: string | undefined
  /** The W3C trace context of the command's span, so that what the event causes joins its trace. */
  readonly traceparent?: string | undefined
  readonly tracestate?: string | undefined
}

export interface NewEvent {
  readonly eventId: string
  readonly type: string
  readonly schemaVersion: number
  readonly data: unknown
  readonly metadata: EventMetadata
  /** What the customer is told of this event, if anything: it goes into the outbox with the event. */
  readonly notification?: Notification | undefined
}

/** What folding a stream needs of each event: its version, and what it decodes from. */
export interface HistoryEvent extends StoredEventData {
  readonly version: number
}

export interface RecordedEvent extends HistoryEvent {
  readonly globalPosition: number
  readonly eventId: string
  readonly streamId: string
  readonly streamType: string
  readonly metadata: EventMetadata
  readonly recordedAt: Date
}

/** Which events of a stream to read: versions above `afterVersion`, up to `toVersion` or a moment. */
export interface StreamRange {
  readonly afterVersion?: number
  readonly toVersion?: number
  /** The events before the first one recorded after this moment (a prefix, even if clocks stepped back). */
  readonly recordedUntil?: Date
}

export interface IdempotencyClaim {
  /** Whose key it is (the caller): the same key from two callers never meets. */
  readonly scope: string
  readonly key: string
  /** Fingerprint of the request: the same key with another request is refused, not replayed. */
  readonly requestHash: string
}

export interface AppendRequest {
  readonly streamId: string
  readonly streamType: string
  /** The stream's version the events were decided on (0 for a new stream). */
  readonly expectedVersion: number
  readonly events: ReadonlyArray<NewEvent>
  readonly idempotency?: IdempotencyClaim | undefined
}

export interface AppendResult {
  readonly streamId: string
  /** Version of the first appended event. */
  readonly fromVersion: number
  /** The stream's version after the append. */
  readonly toVersion: number
}

/**
 * The events were appended now; or the idempotency key had been used by this same request; or an
 * event id of the request is already stored at other versions than this append's: a command in it
 * was applied before (decided again after its answer was lost), and nothing was appended.
 */
export type AppendOutcome =
  | { readonly _tag: "Appended"; readonly result: AppendResult }
  | { readonly _tag: "Replayed"; readonly result: AppendResult }
  | { readonly _tag: "AlreadyApplied" }

export class VersionConflict extends Data.TaggedError("VersionConflict")<{
  readonly streamId: string
  readonly expectedVersion: number
  readonly actualVersion: number
}> {}

/** The store failed in a way that proves nothing was written (it could not be reached, or refused the statement). */
export class StoreUnavailable extends Data.TaggedError("StoreUnavailable")<{
  readonly message: string
}> {}

/**
 * The append may or may not have committed, and the store could not learn which: its reply was lost
 * and asking again by the events' ids did not get an answer in time. Nothing may be decided on this
 * stream's cached state; a retry with the same idempotency key is safe.
 */
export class AppendOutcomeUnknown extends Data.TaggedError("AppendOutcomeUnknown")<{
  readonly streamId: string
  readonly message: string
}> {}

export type AppendError = VersionConflict | IdempotencyKeyReused | StoreUnavailable | AppendOutcomeUnknown

export class IdempotencyKeyReused extends Data.TaggedError("IdempotencyKeyReused")<{
  readonly key: string
}> {}

/** Positions given to readAll must be 0 or a position the store returned. */
export class UnknownPosition extends Data.TaggedError("UnknownPosition")<{
  readonly position: number
}> {}

export interface StoredIdempotency {
  readonly requestHash: string
  readonly result: AppendResult
}

/** An aggregate's state at a version, as the store keeps it (a cache of the fold up to there). */
export interface StoredSnapshot {
  readonly version: number
  readonly schemaVersion: number
  readonly state: unknown
}

/** What loading a stream found: the latest snapshot, if any, and the events after it. */
export interface LoadedStream {
  readonly snapshot: Option.Option<StoredSnapshot>
  /** Events after the snapshot's version (all of them without one), in version order. */
  readonly events: ReadonlyArray<HistoryEvent>
  /** The stream's version in the store. */
  readonly streamVersion: number
}

export interface EventStoreShape {
  /**
   * Appends the events if the stream is at `expectedVersion`. An attempt whose reply is lost is
   * resolved by the events' ids (unique in the store): the store asks again with the same events,
   * and finds them if they had committed, so a lost reply never reads as a conflict.
   */
  readonly append: (request: AppendRequest) => Effect.Effect<AppendOutcome, AppendError>
  /** Events of one stream with a version above `afterVersion`, in version order, as recorded. */
  readonly readStream: (streamId: string, options?: StreamRange) => Effect.Effect<ReadonlyArray<RecordedEvent>, SqlError.SqlError>
  /** The same events with only what folding needs: a third of what `readStream` reads and decodes. */
  readonly readHistory: (streamId: string, options?: StreamRange) => Effect.Effect<ReadonlyArray<HistoryEvent>, SqlError.SqlError>
  readonly streamVersion: (streamId: string) => Effect.Effect<number, SqlError.SqlError>
  /**
   * When the event with this id is stored: the stream's version after the last event of the same
   * command (events of one command are stored together, in order, with its commandId in their
   * metadata). How a command decided again learns that it was applied before.
   */
  readonly appliedThrough: (firstEventId: string) => Effect.Effect<Option.Option<number>, SqlError.SqlError>
  /**
   * Up to `limit` events of the whole log that follow the event at `afterPosition` (0 for the start),
   * in commit-safe order: events of transactions still in flight, and everything after them, wait.
   */
  readonly readAll: (options: {
    readonly afterPosition: number
    readonly limit: number
  }) => Effect.Effect<ReadonlyArray<RecordedEvent>, UnknownPosition | SqlError.SqlError>
  /**
   * The position of the last event `readAll` gives now (0 for an empty log): where a new reader of
   * the log starts when it wants only what is appended from now on.
   */
  readonly headPosition: Effect.Effect<number, SqlError.SqlError>
  readonly findIdempotency: (
    claim: Pick<IdempotencyClaim, "scope" | "key">
  ) => Effect.Effect<Option.Option<StoredIdempotency>, SqlError.SqlError>
  /** The latest snapshot and the events after it, in one round trip. */
  readonly loadLatest: (streamId: string) => Effect.Effect<LoadedStream, SqlError.SqlError>
  /**
   * Keeps a snapshot, in place of one the stream has at the same version, and applies the
   * aggregate's retention in the same step: of the stream's snapshots older than this one, the
   * `keep - 1` newest stay and the rest go; snapshots newer than it (saved out of order) stay.
   * `keep` below 1 counts as 1.
   */
  readonly saveSnapshot: (
    snapshot: StoredSnapshot & {
      readonly streamId: string
      readonly streamType: string
      /** Snapshots of the stream kept: this one and the `keep - 1` newest older than it. */
      readonly keep: number
    }
  ) => Effect.Effect<void, SqlError.SqlError>
}

/** PostgreSQL channel notified (coalesced, after commit) when appends have committed. */
export const APPENDED_CHANNEL = "events_appended"

export class EventStore extends Context.Tag("app/EventStore")<EventStore, EventStoreShape>() {}
