/** What the notification worker counts, served at its /metrics. */
import { Metric } from "effect"
import { durationHistogram } from "../observability/histograms.js"

export const sent = Metric.counter("notifications_sent_total", { description: "Push notifications sent", incremental: true })

export const retried = Metric.counter("notifications_retried_total", {
  description: "Failed push attempts scheduled for a retry",
  incremental: true
})

export const deadLettered = Metric.counter("notifications_dead_lettered_total", {
  description: "Tasks moved to the dead-letter queue",
  incremental: true
})

export const duplicates = Metric.counter("notifications_duplicates_total", {
  description: "Deliveries of tasks already sent or given up (acked, nothing sent)",
  incremental: true
})

export const repushed = Metric.counter("notifications_repushed_total", {
  description:
    "Claims that took over a delivery whose previous attempt ran out unrecorded (its worker died or stalled " +
    "after claiming): at most this many pushes repeated one already made, with the same Idempotency-Key",
  incremental: true
})

export const swept = Metric.counter("notifications_swept_total", {
  description: "Tasks published again by the sweeper because their delivery stayed unsettled past its due time",
  incremental: true
})

export const requeued = Metric.counter("notifications_requeued_total", {
  description: "Tasks put back on the push queue, after a wait, because they could not be claimed or their outcome recorded",
  incremental: true
})

export const endToEnd = durationHistogram(
  "notification_end_to_end_seconds",
  "Time from the event's commit to the push gateway's answer",
  { fromMillis: 5, count: 14 }
)

export const deadLetterQueueDepth = Metric.gauge("notifications_dead_letter_queue_depth", {
  description: "Tasks waiting in the dead-letter queue for an operator (see `dlq`)"
})

export const stuckDeliveries = Metric.gauge("notifications_stuck_deliveries", {
  description: "Deliveries unsettled past their due time: the sweeper publishes them again; a count that stays up means it cannot"
})
