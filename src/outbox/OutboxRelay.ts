/**
 * The outbox relay: moves outbox rows to their brokers, in commit order, and marks them delivered
 * only after the broker confirmed them.
 *
 * One relay is active at a time, whatever the number of processes: the one holding a session-level
 * advisory lock on a session of its own. Processes that do not get it stand by and try again every
 * second; a process that dies loses its session and so its lock, and a standby takes over. The active
 * relay beats its session twice a second and steps down when it does not answer; and a cursor moves
 * only while the lock's session is alive (OutboxStore.advance), so a relay that lost it cannot mark
 * anything. The lock only saves work: the fence is Kafka's. A new term fences the last one's
 * transactional producer, and each Kafka transaction carries the relay's position, so the event log
 * gets every event exactly once, in order, even from two relays that both believe they are active
 * (see KafkaPublisher).
 *
 * Each destination has its own loop and cursor: Kafka being down never holds notifications back, nor
 * the reverse. A failed publish is retried with backoff, without end; nothing is skipped. For
 * RabbitMQ, a crash between publish and mark sends that batch again: duplicates are possible, gaps
 * are not, and the workers deduplicate by event id.
 */
import type { SqlError } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { measureParked, QuarantineStore } from "../quarantine/QuarantineStore.js"
import { type Role, whileLeading } from "../database/leadership.js"
import { purgeForever } from "../database/retention.js"
import { Clock, Duration, Effect, Fiber, Metric, Queue, Ref, Schedule, Stream } from "effect"
import { durationHistogram } from "../observability/histograms.js"
import { APPENDED_CHANNEL } from "../eventstore/EventStore.js"
import type { BrokerUnavailable } from "../messaging/errors.js"
import { KafkaPublisher } from "../messaging/KafkaPublisher.js"
import { spannedPerTrace } from "../observability/traceContext.js"
import { type AmqpRecord, toAmqpRecord, toKafkaRecord, type Topology } from "../messaging/contracts.js"
import type { CommitPosition } from "../eventstore/commitPosition.js"
import { type Destination, destinations, type OutboxEntry, OutboxStore } from "./OutboxStore.js"
import { RabbitPublisher } from "../messaging/RabbitPublisher.js"

export interface OutboxRelayOptions {
  readonly names: Topology
  readonly batchSize: number
  readonly pollInterval: Duration.Duration
  readonly retention: Duration.Duration
  /** Fault injection for tests: the process kills itself right after a publish there, before marking it. */
  readonly crashAfterPublish?: Destination | undefined
  /** Kept up to date with this process's part in the election, for whoever reports it (the ops server's /ready). */
  readonly role?: Ref.Ref<RelayRole> | undefined
}

/** `starting` until the first try for the lock; then `active` while this process holds it, `standby` otherwise. */
export type RelayRole = Role

/** Key of the advisory lock that elects the active relay (migrations use 7_411_001). */
export const RELAY_LOCK = 7_411_002

const brokerOf: Record<Destination, BrokerUnavailable["broker"]> = { events: "kafka", notifications: "rabbitmq" }

const backlogGauge = Metric.gauge("outbox_backlog", { description: "Outbox rows not yet delivered, by destination" })
const oldestGauge = Metric.gauge("outbox_oldest_unpublished_age_seconds", {
  description: "How long the oldest row not yet delivered has waited, by destination (0 when none): the delay a consumer sees"
})
const publishedTotal = Metric.counter("outbox_published_total", {
  description: "Outbox rows published and confirmed by their broker, by destination",
  incremental: true
})
const publishFailures = Metric.counter("outbox_publish_failures_total", {
  description: "Failed publish attempts (each is retried), by destination",
  incremental: true
})
const publishLatency = durationHistogram(
  "outbox_publish_latency_seconds",
  "Time from an event's commit to its broker's confirm, by destination",
  { fromMillis: 1, count: 16 }
)
const activeGauge = Metric.gauge("outbox_relay_active", { description: "1 while this process is the active relay" })

const byDestination = <Type, In, Out>(metric: Metric.Metric<Type, In, Out>, destination: Destination) =>
  Metric.tagged(metric, "destination", destination)

export const run = (options: OutboxRelayOptions) =>
  Effect.gen(function*() {
    const pg = yield* PgClient.PgClient
    const store = yield* OutboxStore
    const kafka = yield* KafkaPublisher
    const rabbit = yield* RabbitPublisher
    const quarantine = yield* QuarantineStore
    const setRole = (role: RelayRole) => options.role === undefined ? Effect.void : Ref.set(options.role, role)

    // The store's NOTIFY after appends commit wakes the loops; the poll covers a lost notification.
    const wakeups = yield* Effect.forEach(destinations, () => Queue.sliding<void>(1))
    const wake = Effect.forEach(wakeups, (queue) => Queue.offer(queue, undefined), { discard: true })
    yield* pg.listen(APPENDED_CHANNEL).pipe(
      Stream.runForEach(() => wake),
      Effect.tapErrorCause((cause) => Effect.logDebug("outbox listen connection failed; polling meanwhile", cause)),
      Effect.retry(Schedule.spaced("1 second")),
      Effect.forkScoped
    )
    const awaitWork = (destination: Destination) =>
      Queue.take(wakeups[destinations.indexOf(destination)]!).pipe(Effect.timeout(options.pollInterval), Effect.ignore)

    /** Each trace in the batch sees its publish (a producer span), however many events share it. */
    const publish = (destination: Destination, batch: ReadonlyArray<OutboxEntry>) => {
      const traced = spannedPerTrace(`${destination === "events" ? "kafka" : "rabbitmq"} publish`, batch.map((entry) => entry.event.metadata), {
        kind: "producer",
        attributes: { "messaging.system": destination === "events" ? "kafka" : "rabbitmq", "messaging.batch.message_count": batch.length }
      })
      if (destination === "events") {
        return kafka.publish(batch.map((entry) => ({ record: toKafkaRecord(options.names, entry.event), position: entry.cursor }))).pipe(traced)
      }
      const records: Array<AmqpRecord> = []
      for (const entry of batch) {
        if (entry.notification !== null) records.push(toAmqpRecord(options.names, entry.event, entry.notification))
      }
      return rabbit.publish(records).pipe(traced)
    }

    /** Retries until the broker answers; one warning when it goes down, one line when it is back. */
    const untilAnswered = <E extends { readonly _tag: string }>(
      destination: Destination,
      attempt: Effect.Effect<void, BrokerUnavailable | E>
    ) => {
      const broker = brokerOf[destination]
      let downSince: number | undefined
      const unavailable = (error: BrokerUnavailable | E): error is BrokerUnavailable => error._tag === "BrokerUnavailable"
      return attempt.pipe(
        Effect.tapError((error) =>
          !unavailable(error) ? Effect.void : Effect.zipRight(
            Metric.increment(byDestination(publishFailures, destination)),
            downSince !== undefined ? Effect.void : Effect.flatMap(Clock.currentTimeMillis, (now) => {
              downSince = now
              return Effect.logWarning(`${broker} is unavailable; its messages wait in the outbox and are retried until it is back`)
                .pipe(Effect.annotateLogs({ destination, broker, error: error.message }))
            })
          )
        ),
        Effect.retry({
          while: unavailable,
          schedule: Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("5 seconds")), Schedule.jittered)
        }),
        Effect.tap(() => {
          const since = downSince
          return since === undefined ? Effect.void : Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.logInfo(`${broker} is back; publishing resumed`).pipe(
              Effect.annotateLogs({ destination, broker, downForMs: now - since })
            ))
        })
      )
    }

    /**
     * Publishes the batch; when the broker refuses records for good, halves the batch until the
     * refused rows stand alone, parks each in the quarantine, and publishes the rest in order.
     */
    const publishOrPark = (
      destination: Destination,
      batch: ReadonlyArray<OutboxEntry>
    ): Effect.Effect<void, SqlError.SqlError | BrokerUnavailable> =>
      untilAnswered(destination, publish(destination, batch)).pipe(
        Effect.catchTag("BrokerRejected", (rejected) => {
          if (batch.length === 1) {
            return quarantine.park({
              source: `outbox:${destination}`,
              globalPosition: batch[0]!.event.globalPosition,
              reason: rejected.message,
              // What a retry puts back in the outbox: the row's notification (the event is in the store).
              received: batch[0]!.notification === null ? undefined : JSON.stringify(batch[0]!.notification)
            })
          }
          const half = Math.ceil(batch.length / 2)
          return Effect.zipRight(publishOrPark(destination, batch.slice(0, half)), publishOrPark(destination, batch.slice(half)))
        })
      )

    const drain = (destination: Destination, fence: { readonly lockKey: number; readonly leaderPid: number }) =>
      Effect.gen(function*() {
        // A new term fences the last one's Kafka producer before reading anything: from now on a
        // deposed relay cannot commit, and what it did commit is known and not sent again.
        if (destination === "events") yield* untilAnswered(destination, kafka.fence)
        const readFrom = (cursor: CommitPosition) => Effect.fork(store.pending(destination, cursor, options.batchSize))
        let cursor = yield* store.cursorOf(destination)
        let next = yield* readFrom(cursor)
        for (;;) {
          const batch = yield* Fiber.join(next)
          if (batch.length === 0) {
            yield* awaitWork(destination)
            next = yield* readFrom(cursor)
            continue
          }
          const last = batch[batch.length - 1]!.cursor
          // Read the next batch while this one is on its way: reading ahead marks nothing.
          next = yield* readFrom(last)
          yield* publishOrPark(destination, batch)
          if (options.crashAfterPublish === destination) process.kill(process.pid, "SIGKILL")
          yield* store.advance(destination, last, fence)
          cursor = last
          const now = yield* Clock.currentTimeMillis
          yield* Metric.incrementBy(byDestination(publishedTotal, destination), batch.length)
          const latency = byDestination(publishLatency, destination)
          yield* Effect.forEach(batch, (entry) => Metric.update(latency, now - entry.event.recordedAt.getTime()), { discard: true })
        }
      }).pipe(Effect.annotateLogs({ destination }))

    const housekeeping = Effect.all([
      store.backlog.pipe(
        Effect.flatMap((backlogs) =>
          Effect.forEach(destinations, (destination) =>
            Effect.zipRight(
              Metric.set(byDestination(backlogGauge, destination), backlogs[destination].pending),
              Metric.set(byDestination(oldestGauge, destination), backlogs[destination].oldestAgeSeconds)
            ))
        ),
        Effect.repeat(Schedule.spaced("5 seconds"))
      ),
      purgeForever((limit) => store.purge(options.retention, limit)),
      measureParked("15 seconds")
    ], { concurrency: "unbounded", discard: true })

    return yield* whileLeading({
      lockKey: RELAY_LOCK,
      name: "outbox relay",
      activeMessage: "this process publishes the outbox",
      onRole: (role) => Effect.zipRight(Metric.set(activeGauge, role === "active" ? 1 : 0), setRole(role))
    }, (fence) =>
      Effect.all([...destinations.map((destination) => drain(destination, fence)), housekeeping], {
        concurrency: "unbounded",
        discard: true
      }))
  }).pipe(Effect.annotateLogs({ component: "outbox-relay" }))
