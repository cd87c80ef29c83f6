/**
 * The projector: a Kafka consumer group on `<prefix>order.events` that keeps order_summaries up to
 * date. Each partition's batch is applied in one read and one write (projectEvents), and only then
 * are its offsets committed: a crash replays the uncommitted batch, which the versions make harmless.
 * A batch that cannot be applied is retried with backoff (never skipped); the group rebalances
 * partitions between projector processes, and each aggregate's events stay in one partition.
 */
import { Duration, Effect, Metric, Ref, Runtime, Schedule, Schema } from "effect"
import { durationHistogram } from "../observability/histograms.js"
import { type Consumer, type EachBatchPayload } from "kafkajs"
import { EventEnvelope } from "../messaging/contracts.js"
import { kafkaClient, partitionLags } from "../messaging/kafka.js"
import { QuarantineStore } from "../quarantine/QuarantineStore.js"
import { projectEvents } from "./projectEvents.js"
import { spannedPerTrace } from "../observability/traceContext.js"

export interface ProjectorOptions {
  readonly brokers: ReadonlyArray<string>
  readonly topic: string
  readonly groupId: string
  /** A lag (event recorded → row written) above this is logged as a warning, once, until it is back under. */
  readonly lagWarning: Duration.Duration
  /** Kept up to date with the consumer's membership of its group, for whoever reports it (the ops server's /ready). */
  readonly membership?: Ref.Ref<GroupMembership> | undefined
}

/** Whether the consumer is in its group (it joined, and has not crashed or disconnected since); `reason` says why not. */
export type GroupMembership =
  | { readonly _tag: "Member"; readonly memberId: string }
  | { readonly _tag: "NotMember"; readonly reason: string }

const lagHistogram = durationHistogram(
  "projection_lag_seconds",
  "Time from an event's commit to its read-model row being written",
  { fromMillis: 1, count: 16 }
)
const consumerLag = Metric.gauge("projection_consumer_lag", { description: "Messages of the topic not yet projected, by partition" })
const lagBreaches = Metric.counter("projection_lag_breaches_total", {
  description: "Read-model rows written later after their event's commit than PROJECTION_LAG_WARNING (the lag target)",
  incremental: true
})
const appliedTotal = Metric.counter("projection_events_applied_total", { description: "Events applied to read models", incremental: true })
const skippedTotal = Metric.counter("projection_events_skipped_total", {
  description: "Duplicate or replayed events skipped",
  incremental: true
})
const filledTotal = Metric.counter("projection_events_filled_total", {
  description: "Missing events read from the event store to fill a gap",
  incremental: true
})

const decodeEnvelope = Schema.decodeUnknownEither(Schema.parseJson(EventEnvelope))

/** Lag samples for whoever wants them exactly (the benchmark); the metric keeps a histogram. */
export type LagListener = (lagMs: number) => void

export const run = (options: ProjectorOptions, onLag?: LagListener) =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<Effect.Effect.Context<ReturnType<typeof projectEvents>> | QuarantineStore>()
    const quarantine = yield* QuarantineStore
    const runPromise = Runtime.runPromise(runtime)
    const kafka = kafkaClient(options.brokers, "projector")
    let lagging = false
    // Exported from the start, at 0: a rate over a counter that appears only at its first breach misses that breach.
    yield* Metric.incrementBy(lagBreaches, 0)

    const handleBatch = ({ batch, heartbeat, isRunning, isStale }: EachBatchPayload) => {
      const events: Array<EventEnvelope> = []
      const undecodable: Array<{ readonly offset: string; readonly text: string; readonly reason: string }> = []
      for (const message of batch.messages) {
        const text = message.value?.toString("utf8") ?? ""
        const decoded = decodeEnvelope(text)
        if (decoded._tag === "Left") undecodable.push({ offset: message.offset, text, reason: decoded.left.message })
        else events.push(decoded.right)
      }
      // Not an event envelope this projector can read: parked, never skipped in silence. A newer
      // schema written by a newer runtime shows up here too, and is retried once this one is upgraded.
      const park = Effect.forEach(undecodable, (message) =>
        quarantine.park({
          source: "projector:order_summaries",
          reason: `${batch.topic}[${batch.partition}] offset ${message.offset}: not an event envelope this projector reads: ` +
            message.reason.slice(0, 500),
          received: message.text
        }), { discard: true })
      // Each trace in the batch sees the read model written (child spans: the write continues the command).
      const apply = projectEvents(events).pipe(
        spannedPerTrace("order_summaries write", events.map((event) => event.metadata), {
          kind: "consumer",
          attributes: { "messaging.system": "kafka", "messaging.destination.name": batch.topic, "messaging.kafka.partition": batch.partition }
        }),
        Effect.tapError((error) =>
          Effect.logWarning("projection batch failed; retrying").pipe(
            Effect.annotateLogs({ partition: batch.partition, error: "reason" in error ? error.reason : String(error) }),
            Effect.zipRight(Effect.promise(() => heartbeat().catch(() => undefined)))
          )
        ),
        Effect.retry({
          schedule: Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("5 seconds"))),
          while: () => isRunning() && !isStale()
        }),
        Effect.tap((projected) =>
          Effect.gen(function*() {
            // The wall clock, not Effect's: the lag is measured against a timestamp the database wrote.
            const now = Date.now()
            const target = Duration.toMillis(options.lagWarning)
            let worst = 0
            let breaches = 0
            for (const summary of projected.written) {
              const lag = now - Date.parse(summary.updatedAt)
              worst = Math.max(worst, lag)
              if (lag > target) breaches++
              yield* Metric.update(lagHistogram, lag)
              onLag?.(lag)
            }
            if (breaches > 0) yield* Metric.incrementBy(lagBreaches, breaches)
            yield* Metric.incrementBy(appliedTotal, projected.applied)
            yield* Metric.incrementBy(skippedTotal, projected.skipped)
            yield* Metric.incrementBy(filledTotal, projected.filled)
            if (!lagging && worst > target) {
              lagging = true
              yield* Effect.logWarning("projection lag is over the threshold").pipe(
                Effect.annotateLogs({ lagMs: worst, thresholdMs: target })
              )
            } else if (lagging && worst <= target) {
              lagging = false
              yield* Effect.logInfo("projection lag is back under the threshold").pipe(Effect.annotateLogs({ lagMs: worst }))
            }
          })
        )
      )
      return runPromise(Effect.zipRight(park, apply))
    }

    const consumer: Consumer = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        // A projector that dies is noticed after the session timeout; then its partitions move on.
        const created = kafka.consumer({
          groupId: options.groupId,
          maxWaitTimeInMs: 50,
          allowAutoTopicCreation: false,
          sessionTimeout: 10_000,
          heartbeatInterval: 1_000
        })
        // The consumer's events arrive on kafkajs's own callbacks, outside any fiber: each sets the Ref at once.
        const member = (membership: GroupMembership) => {
          if (options.membership !== undefined) Runtime.runSync(runtime)(Ref.set(options.membership, membership))
        }
        created.on(created.events.GROUP_JOIN, (event) => member({ _tag: "Member", memberId: event.payload.memberId }))
        created.on(created.events.CRASH, (event) =>
          member({ _tag: "NotMember", reason: `the consumer crashed (${event.payload.error.message}); it restarts: ${event.payload.restart}` }))
        created.on(created.events.DISCONNECT, () => member({ _tag: "NotMember", reason: "the consumer disconnected" }))
        created.on(created.events.STOP, () => member({ _tag: "NotMember", reason: "the consumer stopped" }))
        await created.connect()
        await created.subscribe({ topic: options.topic, fromBeginning: true })
        return created
      }),
      (consumer) => Effect.promise(() => consumer.disconnect().catch(() => undefined))
    )
    yield* Effect.promise(() =>
      consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async (payload) => {
          if (payload.batch.isEmpty()) return
          await handleBatch(payload)
          const next = (BigInt(payload.batch.lastOffset()) + 1n).toString()
          payload.resolveOffset(payload.batch.lastOffset())
          // Committed only after the read model was written.
          await consumer.commitOffsets([{ topic: payload.batch.topic, partition: payload.batch.partition, offset: next }])
        }
      })
    )
    yield* Effect.logInfo("projector consuming").pipe(Effect.annotateLogs({ topic: options.topic, groupId: options.groupId }))

    // Consumer lag: the topic's end offsets less the group's committed ones.
    const admin = kafka.admin()
    yield* Effect.acquireRelease(Effect.promise(() => admin.connect()), () => Effect.promise(() => admin.disconnect()))
    return yield* Effect.promise(() => partitionLags(admin, options.topic, options.groupId)).pipe(
      Effect.flatMap((lags) =>
        Effect.forEach(lags, ({ lag, partition }) => Metric.set(Metric.tagged(consumerLag, "partition", String(partition)), lag))
      ),
      Effect.catchAllDefect(() => Effect.void),
      Effect.repeat(Schedule.spaced("5 seconds")),
      Effect.zipRight(Effect.never)
    )
  }).pipe(Effect.annotateLogs({ component: "projector" }))
