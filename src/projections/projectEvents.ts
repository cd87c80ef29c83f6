/**
 * Applying a batch of stored events to the order summaries: the step the projector (from Kafka) and
 * the rebuild (from the event store) share. Idempotent — an event at or below a row's last version is
 * skipped — and gap-free: when an event is ahead of its row, the missing versions are read from the
 * event store, the source of truth, and applied first. One read and one write per batch.
 */
import { SqlClient } from "@effect/sql"
import { Data, Effect, Either } from "effect"
import { orderAggregate } from "../domain/order/index.js"
import { EventStore, type RecordedEvent } from "../eventstore/EventStore.js"
import { OrderSummaries } from "./OrderSummaries.js"
import { applyToSummary, type OrderSummary, type StoredEventRef } from "./orderSummary.js"

/** An event the projection cannot apply: it stops (and retries) rather than skip and be wrong. */
export class ProjectionFailed extends Data.TaggedError("ProjectionFailed")<{ readonly reason: string }> {}

/** The streams the order summaries are folded from. */
export const orderSummaryStreamTypes: ReadonlyArray<string> = [orderAggregate.streamType]

export interface ProjectedSummaries {
  readonly applied: number
  /** At or below the row's version already: duplicates and replays. */
  readonly skipped: number
  /** Missing versions read from the event store. */
  readonly filled: number
  /** The summaries written. */
  readonly written: ReadonlyArray<OrderSummary>
}

export const fromRecorded = (event: RecordedEvent): StoredEventRef => ({
  streamId: event.streamId,
  version: event.version,
  type: event.type,
  schemaVersion: event.schemaVersion,
  data: event.data,
  recordedAt: event.recordedAt.toISOString()
})

/**
 * In one transaction that first takes the table's write lock: the rows are read from the table they
 * are written to. Without it, a batch could read a row from the old table while a rebuild swapped a
 * new one in, and write state built on the old row into the new table.
 */
export const projectEvents = (events: ReadonlyArray<StoredEventRef>, table?: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.withTransaction(projectLocked(events, table)))

const projectLocked = (events: ReadonlyArray<StoredEventRef>, table?: string) =>
  Effect.gen(function*() {
    const summaries = yield* OrderSummaries
    const store = yield* EventStore
    yield* summaries.lockForWrite(table)
    const current = yield* summaries.load([...new Set(events.map((event) => event.streamId))], table)
    const changed = new Map<string, OrderSummary>()
    let applied = 0
    let skipped = 0
    let filled = 0

    const apply = (summary: OrderSummary | undefined, event: StoredEventRef) =>
      Either.match(applyToSummary(summary, event), {
        onLeft: (reason) => Effect.fail(new ProjectionFailed({ reason })),
        onRight: Effect.succeed
      })

    for (const event of events) {
      let summary = changed.get(event.streamId) ?? current.get(event.streamId)
      const last = summary?.lastVersion ?? 0
      if (event.version <= last) {
        skipped++
        continue
      }
      if (event.version > last + 1) {
        const missing = yield* store.readStream(event.streamId, { afterVersion: last, toVersion: event.version - 1 })
        if (missing.length !== event.version - 1 - last) {
          return yield* new ProjectionFailed({
            reason: `order ${event.streamId}: versions ${last + 1}..${event.version - 1} are not all in the event store yet`
          })
        }
        for (const gap of missing) summary = yield* apply(summary, fromRecorded(gap))
        filled += missing.length
      }
      summary = yield* apply(summary, event)
      applied++
      changed.set(event.streamId, summary)
    }
    const written = [...changed.values()]
    yield* summaries.save(written, table)
    return { applied, skipped, filled, written } satisfies ProjectedSummaries
  })
