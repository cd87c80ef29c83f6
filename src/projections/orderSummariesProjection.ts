/**
 * The order summaries (orderSummary.ts, the fold; OrderSummaries.ts, the table) as a projection:
 * the order events applied a batch at a time by projectEvents, and rebuilt from the event store by
 * swapping in a new table (rebuild.ts).
 */
import { Effect } from "effect"
import { makeProjection } from "./projection.js"
import { orderSummaryStreamTypes, projectEvents } from "./projectEvents.js"
import { rebuildOrderSummaries } from "./rebuild.js"

export const orderSummariesProjection = makeProjection({
  name: "order_summaries",
  streamTypes: orderSummaryStreamTypes,
  apply: (events) =>
    Effect.map(projectEvents(events), (projected) => ({
      applied: projected.applied,
      skipped: projected.skipped,
      filled: projected.filled,
      // A summary's updatedAt is its latest event's recordedAt.
      writtenAsOf: projected.written.map((summary) => summary.updatedAt)
    })),
  rebuild: rebuildOrderSummaries
})
