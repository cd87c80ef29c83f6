/**
 * The projector: each registered projection (src/projections.ts) is a Kafka consumer group of its
 * own, `<prefix>projector.<name>`, on its stream types' topics, that keeps its read model up to date.
 * Each partition's batch is applied in one go (the projection's `apply`), and only then are its
 * offsets committed: a crash replays the uncommitted batch, which the projection must make harmless.
 * A batch that cannot be applied is retried with backoff (never skipped); the group rebalances
 * partitions between projector processes, and each aggregate's events stay in one partition.
 */
import { Duration, Effect, Metric, Ref, Runtime, Schedule, Schema, type Scope } from "effect"
import { durationHistogram } from "../observability/histograms.js"
import { type Consumer, type EachBatchPayload } from "kafkajs"
import { EventEnvelope, topology } from "../messaging/contracts.js"
import { kafkaClient, partitionLags } from "../messaging/kafka.js"
import { projectorSource, QuarantineStore } from "../quarantine/QuarantineStore.js"
import { type Projection, projectorGroupId } from "./projection.js"
import { spannedPerTrace } from "../observability/traceContext.js"

export interface ProjectorOptions {
  readonly brokers: ReadonlyArray<string>
  /** The deployment's prefix of topic and group names (MESSAGING_PREFIX). */
  readonly prefix: string
  /** A lag (event recorded → row written) above this is logged as a warning, once, until it is back under. */
  readonly lagWarning: Duration.Duration
  /**
   * Told the consumer's membership of its group each time it changes, for whoever reports it (the
   * ops server's /ready). Run at once on kafkajs's callbacks: it must not wait for anything.
   */
  readonly onMembership?: ((membership: GroupMembership) => Effect.Effect<void>) | undefined
}

/** Whether the consumer is in its group (it joined, and has not crashed or disconnected since); `reason` says why not. */
export type GroupMembership =
  | { readonly _tag: "Member"; readonly memberId: string }
  | { readonly _tag: "NotMember"; readonly reason: string }

const notJoined: GroupMembership = { _tag: "NotMember", reason: "the consumer has not joined its group yet" }

/**
 * Several consumers' memberships as one: a member when every one is; otherwise why not, with the
 * name of each consumer that is not (the reason alone when there is only one).
 */
export const membershipOfAll = (memberships: ReadonlyMap<string, GroupMembership>): GroupMembership => {
  const missing: Array<string> = []
  const members: Array<string> = []
  for (const [name, membership] of memberships) {
    if (membership._tag === "Member") members.push(memberships.size === 1 ? membership.memberId : `${name}: ${membership.memberId}`)
    else missing.push(memberships.size === 1 ? membership.reason : `${name}: ${membership.reason}`)
  }
  return missing.length === 0 ? { _tag: "Member", memberId: members.join(", ") } : { _tag: "NotMember", reason: missing.join("; ") }
}

/**
 * Keeps `into` at the membership of all the named consumers (membershipOfAll); gives, for each name,
 * what to tell the consumer's changes to (its projector's `onMembership`).
 */
export const reportMembershipOfAll = (names: ReadonlyArray<string>, into: Ref.Ref<GroupMembership>) =>
  Effect.map(
    Ref.make<ReadonlyMap<string, GroupMembership>>(new Map(names.map((name) => [name, notJoined]))),
    (each) => (name: string) => (membership: GroupMembership) =>
      // Both steps run synchronously on kafkajs's callback: no other change comes in between.
      Ref.updateAndGet(each, (all) => new Map(all).set(name, membership)).pipe(
        Effect.flatMap((all) => Ref.set(into, membershipOfAll(all)))
      )
  )

// Each labelled `projection` (its name): every projection's consumer has its own lag, counts and target breaches.
const lagHistogram = durationHistogram(
  "projection_lag_seconds",
  "Time from an event's commit to its read-model row being written",
  { fromMillis: 1, count: 16 }
)
const consumerLag = Metric.gauge("projection_consumer_lag", {
  description: "Messages of a topic not yet projected, by projection, topic and partition"
})
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

const describe = (error: unknown) =>
  typeof error === "object" && error !== null && "reason" in error ? String(error.reason) : String(error)

/** Lag samples for whoever wants them exactly (the benchmark); the metric keeps a histogram. */
export type LagListener = (lagMs: number) => void

/** Runs `projection`'s consumer group until interrupted (then it leaves the group). */
export const run = <P extends Projection.Any>(
  projection: P,
  options: ProjectorOptions,
  onLag?: LagListener
): Effect.Effect<never, never, Projection.Context<P> | QuarantineStore | Scope.Scope> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<Projection.Context<P> | QuarantineStore>()
    const quarantine = yield* QuarantineStore
    const runPromise = Runtime.runPromise(runtime)
    const kafka = kafkaClient(options.brokers, "projector")
    const topics = projection.streamTypes.map(topology(options.prefix).eventsTopic)
    const groupId = projectorGroupId(options.prefix, projection.name)
    const source = projectorSource(projection.name)
    const tagged = <T, I, O>(metric: Metric.Metric<T, I, O>) => Metric.tagged(metric, "projection", projection.name)
    const lagSeconds = tagged(lagHistogram)
    const breachesTotal = tagged(lagBreaches)
    let lagging = false
    // Exported from the start, at 0: a rate over a counter that appears only at its first breach misses that breach.
    yield* Metric.incrementBy(breachesTotal, 0)

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
          source,
          reason: `${batch.topic}[${batch.partition}] offset ${message.offset}: not an event envelope this projector reads: ` +
            message.reason.slice(0, 500),
          received: message.text
        }), { discard: true })
      // Each trace in the batch sees the read model written (child spans: the write continues the command).
      const apply = projection.apply(events).pipe(
        spannedPerTrace(`${projection.name} write`, events.map((event) => event.metadata), {
          kind: "consumer",
          attributes: { "messaging.system": "kafka", "messaging.destination.name": batch.topic, "messaging.kafka.partition": batch.partition }
        }),
        Effect.tapError((error) =>
          Effect.logWarning("projection batch failed; retrying").pipe(
            Effect.annotateLogs({ partition: batch.partition, error: describe(error) }),
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
            for (const asOf of projected.writtenAsOf) {
              const lag = now - Date.parse(asOf)
              worst = Math.max(worst, lag)
              if (lag > target) breaches++
              yield* Metric.update(lagSeconds, lag)
              onLag?.(lag)
            }
            if (breaches > 0) yield* Metric.incrementBy(breachesTotal, breaches)
            yield* Metric.incrementBy(tagged(appliedTotal), projected.applied)
            yield* Metric.incrementBy(tagged(skippedTotal), projected.skipped)
            yield* Metric.incrementBy(tagged(filledTotal), projected.filled)
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
        ),
        Effect.annotateLogs({ projection: projection.name })
      )
      return runPromise(Effect.zipRight(park, apply))
    }

    const consumer: Consumer = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        // A projector that dies is noticed after the session timeout; then its partitions move on.
        const created = kafka.consumer({
          groupId,
          maxWaitTimeInMs: 50,
          allowAutoTopicCreation: false,
          sessionTimeout: 10_000,
          heartbeatInterval: 1_000
        })
        // The consumer's events arrive on kafkajs's own callbacks, outside any fiber: each is told at once.
        const member = (membership: GroupMembership) => {
          if (options.onMembership !== undefined) Runtime.runSync(runtime)(options.onMembership(membership))
        }
        created.on(created.events.GROUP_JOIN, (event) => member({ _tag: "Member", memberId: event.payload.memberId }))
        created.on(created.events.CRASH, (event) =>
          member({ _tag: "NotMember", reason: `the consumer crashed (${event.payload.error.message}); it restarts: ${event.payload.restart}` }))
        created.on(created.events.DISCONNECT, () => member({ _tag: "NotMember", reason: "the consumer disconnected" }))
        created.on(created.events.STOP, () => member({ _tag: "NotMember", reason: "the consumer stopped" }))
        await created.connect()
        await created.subscribe({ topics, fromBeginning: true })
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
    yield* Effect.logInfo("projector consuming").pipe(Effect.annotateLogs({ topics: topics.join(","), groupId }))

    // Consumer lag: each topic's end offsets less the group's committed ones.
    const admin = kafka.admin()
    yield* Effect.acquireRelease(Effect.promise(() => admin.connect()), () => Effect.promise(() => admin.disconnect()))
    return yield* Effect.forEach(topics, (topic) =>
      Effect.promise(() => partitionLags(admin, topic, groupId)).pipe(
        Effect.flatMap((lags) =>
          Effect.forEach(lags, ({ lag, partition }) =>
            Metric.set(Metric.tagged(Metric.tagged(tagged(consumerLag), "topic", topic), "partition", String(partition)), lag))
        )
      ), { discard: true }).pipe(
      Effect.catchAllDefect(() => Effect.void),
      Effect.repeat(Schedule.spaced("5 seconds")),
      Effect.zipRight(Effect.never)
    )
  }).pipe(Effect.annotateLogs({ component: "projector", projection: projection.name }))
