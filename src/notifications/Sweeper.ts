/**
 * The sweeper: PostgreSQL, not the broker, says which notifications are pending. A delivery still
 * unsettled well past its due time — its claim ran out, or its retry wait ended, and no copy of its
 * task came back to be claimed — lost its message somewhere (a broker that dropped it, a worker that
 * died holding it). The sweeper publishes the stored task to the push queue again, and the claim
 * decides as for any copy: a task settled meanwhile is dropped, one held by a worker waits its turn.
 *
 * Every worker runs one. Each round takes a bounded batch of such deliveries in one statement that
 * skips rows another sweeper holds and moves their due time on, so sweepers side by side never take
 * the same delivery twice within `grace`.
 */
import { Duration, Effect, Either, Metric } from "effect"
import { DeliveryStore, type StuckDelivery } from "./DeliveryStore.js"
import { swept } from "./metrics.js"
import type { QueuePublisher } from "./QueuePublisher.js"

export interface SweeperOptions {
  readonly pushQueue: string
  /** Pause between rounds (a full batch is followed at once by the next). */
  readonly interval: Duration.Duration
  /** How long past its due time a delivery waits before it is published again, and between two sweeps of it. */
  readonly grace: Duration.Duration
  readonly batchSize: number
}

const republish = (publisher: QueuePublisher, pushQueue: string, delivery: StuckDelivery) =>
  publisher.publish(pushQueue, Buffer.from(delivery.task), {
    persistent: true,
    contentType: "application/json",
    messageId: delivery.eventId,
    headers: { "x-original-routing-key": delivery.routingKey, "x-swept-from": delivery.status }
  })

/** One round: gives how many deliveries it took (those it could not publish are taken again after `grace`). */
const round = (publisher: QueuePublisher, options: SweeperOptions) =>
  Effect.gen(function*() {
    const deliveries = yield* DeliveryStore
    const stuck = yield* deliveries.takeStuck(options.batchSize, options.grace)
    if (stuck.length === 0) return 0
    const outcomes = yield* Effect.forEach(
      stuck,
      (delivery) => Effect.either(republish(publisher, options.pushQueue, delivery)),
      { concurrency: 32 }
    )
    const failed = outcomes.filter(Either.isLeft)
    yield* Metric.incrementBy(swept, stuck.length - failed.length)
    yield* Effect.logWarning("deliveries stuck past their due time published again").pipe(
      Effect.annotateLogs({
        published: stuck.length - failed.length,
        failed: failed.length,
        eventIds: stuck.slice(0, 10).map((delivery) => delivery.eventId).join(",")
      })
    )
    return stuck.length
  }).pipe(Effect.withSpan("Sweeper.round"))

/** Sweeps until interrupted; a failing round is logged once per run of failures and tried again later. */
export const run = (publisher: QueuePublisher, options: SweeperOptions) =>
  Effect.gen(function*() {
    let failing = false
    for (;;) {
      const taken = yield* round(publisher, options).pipe(
        Effect.tap(() =>
          failing ? Effect.sync(() => (failing = false)).pipe(Effect.zipRight(Effect.logInfo("the sweeper works again"))) : Effect.void
        ),
        Effect.catchAllCause((cause) =>
          (failing ? Effect.void : Effect.logWarning("the sweeper failed; it tries again each interval", cause)).pipe(
            Effect.zipRight(Effect.sync(() => (failing = true))),
            Effect.as(0)
          )
        )
      )
      if (taken < options.batchSize) yield* Effect.sleep(options.interval)
    }
  }).pipe(Effect.annotateLogs({ component: "notification-sweeper" }))
