/**
 * The notification worker: consumes push-notification tasks and pushes each at least once — exactly
 * once in effect for a gateway that honours `Idempotency-Key`.
 *
 * Per task: decode it (a task that cannot be decoded goes to the dead-letter queue at once), claim
 * it in the delivery records (a task already sent is acked and dropped; one another worker holds
 * waits its turn in a delay queue), render it, send it to the push gateway with the event id as
 * idempotency key, record the outcome, and only then ack. Tasks are claimed in batches, but each is
 * pushed, recorded and acked on its own: one task's failing bookkeeping puts that task alone back on
 * the queue, never its siblings that were pushed. A push starts only while the claim has at least
 * half its lease left (it is renewed otherwise), so no other worker can claim the task while it is
 * pushed and recorded; the same event is pushed twice only when a worker died (or stalled past its
 * lease) between pushing and recording — the next claim then takes over, counts it in
 * `notifications_repushed_total`, and pushes with the same key.
 *
 * A failure that may pass is retried through delay queues — one per wait, each dead-lettering back
 * to the push queue when its TTL runs out — waiting base × 2^(attempt − 1), or longer when the
 * gateway asked (429 Retry-After); after the last attempt, or at once when the gateway refuses the
 * request, the task goes to the dead-letter queue with the reason and the attempt count in its
 * headers. While the database cannot claim or record, tasks are held and tried again, and put back
 * on the queue after a growing wait, never in a tight loop. Every publish waits for its own confirm,
 * with a time limit. A sweeper re-publishes what the broker lost (see Sweeper).
 *
 * Any number of workers may consume the queue side by side. A lost connection is reconnected with
 * backoff; unacked tasks go back to the queue. On shutdown the consumer is cancelled first, the tasks
 * in hand are finished, and then the channels close.
 */
import amqp from "amqplib"
import {
  Chunk,
  Clock,
  Deferred,
  Duration,
  Effect,
  Either,
  FiberSet,
  Metric,
  Option,
  ParseResult,
  Queue,
  Redacted,
  Ref,
  Schedule,
  Schema
} from "effect"
import { NotificationTask, type Topology } from "../messaging/contracts.js"
import { outdatedPushQueue } from "../messaging/rabbitTopology.js"
import { type Claim, DeliveryStore, type Lease } from "./DeliveryStore.js"
import * as Depths from "./depths.js"
import * as metrics from "./metrics.js"
import { PushGateway } from "./PushGateway.js"
import { makeQueuePublisher, PublishFailed, type QueuePublisher } from "./QueuePublisher.js"
import { renderNotification } from "./render.js"
import * as Sweeper from "./Sweeper.js"
import { purgeForever } from "../database/retention.js"
import { declareDelayQueue, declareWorkerTopology, delayFor, retryDelays } from "./topology.js"
import { parentSpan } from "../observability/traceContext.js"

export interface NotificationWorkerOptions {
  readonly url: Redacted.Redacted
  readonly names: Topology
  readonly streamTypes: ReadonlyArray<string>
  readonly prefetch: number
  readonly concurrency: number
  readonly maxAttempts: number
  readonly retryBaseDelay: Duration.Duration
  /**
   * How long a claim keeps other workers off a task. A push starts only while at least half of it
   * is left, so half of it must cover a push (its timeout) and recording the outcome.
   */
  readonly claimLease: Duration.Duration
  /** A publish the broker has not confirmed within this time failed (the task goes back to the queue). */
  readonly confirmTimeout: Duration.Duration
  readonly sweep: Omit<Sweeper.SweeperOptions, "pushQueue">
  /** Settled deliveries (sent or dead) are deleted after this: the window in which a duplicate task is still recognised. */
  readonly deliveryRetention: Duration.Duration
  /** Fault injection for tests: the process kills itself right after a push, before recording it. */
  readonly crashAfterPush?: boolean
  /** Fault injection for tests: the process kills itself after recording a push, before the ack. */
  readonly crashBeforeAck?: boolean
  /**
   * Kept up to date with the worker's link to RabbitMQ, for whoever reports it (the ops server's
   * /ready): a round trip on its connection while it consumes, none from the moment it breaks until
   * it is back.
   */
  readonly link?: Ref.Ref<BrokerLink> | undefined
}

/**
 * A round trip on the worker's own connection (opening and closing a channel), while it has one: a
 * connection that went half-open is not noticed by a flag, only by a round trip that never ends.
 */
export type BrokerLink = Option.Option<Effect.Effect<void, Error>>

// An event id that is no UUID could never be claimed, and would fail the claim of its whole batch.
const decodeTask = Schema.decodeUnknownEither(Schema.parseJson(Schema.Struct({ ...NotificationTask.fields, eventId: Schema.UUID })))

/** Batches handled at the same time; each holds up to concurrency / BATCH_LOOPS tasks. */
const BATCH_LOOPS = 4

/**
 * How long a worker holds a task, trying again, while the database fails to claim it or record its
 * outcome; then the task goes back to the queue. Long enough to ride out a restart of the database
 * without redelivering anything.
 */
const BOOKKEEPING_PATIENCE = Duration.minutes(1)
const bookkeepingRetries = Schedule.exponential("100 millis").pipe(
  Schedule.union(Schedule.spaced("1 second")),
  Schedule.upTo(BOOKKEEPING_PATIENCE)
)

/**
 * The wait before a task goes back to the queue: 1 s, doubled for each earlier delivery of it (the
 * quorum queue counts them), up to 30 s — so the queue's delivery limit takes many minutes to reach.
 */
const requeueWait = (message: amqp.ConsumeMessage) => {
  const deliveredBefore = Number(message.properties.headers?.["x-delivery-count"] ?? 0)
  return Duration.millis(Math.min(30_000, 1000 * 2 ** Math.min(Number.isFinite(deliveredBefore) ? deliveredBefore : 0, 5)))
}

const describeError = (error: unknown) => error instanceof Error ? error.message : String(error)

const crash = Effect.sync(() => process.kill(process.pid, "SIGKILL"))

/** One connection's channels and what belongs to them. */
interface Session {
  readonly connection: amqp.ChannelModel
  readonly consumer: amqp.Channel
  readonly publisher: QueuePublisher
  /** Delay queues known to exist on the broker. */
  readonly declaredDelays: Set<number>
  /** Tasks waiting to go back to the queue; put back at once when the session ends. */
  readonly requeues: FiberSet.FiberSet
}

type Task = Either.Either.Right<ReturnType<typeof decodeTask>>

interface Received {
  readonly message: amqp.ConsumeMessage
  readonly task: Task
}

export const run = (options: NotificationWorkerOptions) =>
  Effect.gen(function*() {
    const deliveries = yield* DeliveryStore
    const gateway = yield* PushGateway
    const delays = retryDelays(options)
    const { names } = options
    const lease: Lease = { duration: options.claimLease, sweepAfter: Duration.sum(options.claimLease, options.sweep.grace) }
    const halfLease = Duration.toMillis(options.claimLease) / 2

    let databaseFailing = false
    /** Bookkeeping in the database, tried again while it fails (see BOOKKEEPING_PATIENCE); an outage is logged once. */
    const patiently = <A, E>(effect: Effect.Effect<A, E>) =>
      effect.pipe(
        Effect.tapError((error) =>
          databaseFailing ? Effect.void : Effect.sync(() => (databaseFailing = true)).pipe(
            Effect.zipRight(
              Effect.logWarning("the delivery records cannot be read or written; tasks are held and tried again").pipe(
                Effect.annotateLogs({ error: describeError(error) })
              )
            )
          )
        ),
        Effect.retry(bookkeepingRetries),
        Effect.tap(() =>
          databaseFailing
            ? Effect.sync(() => (databaseFailing = false)).pipe(Effect.zipRight(Effect.logInfo("the delivery records answer again")))
            : Effect.void
        )
      )

    /** The routing key the task was first published with (retries arrive through the delay queues). */
    const originalRoutingKey = (message: amqp.ConsumeMessage) =>
      String(message.properties.headers?.["x-original-routing-key"] ?? message.fields.routingKey)

    const ack = (session: Session, message: amqp.ConsumeMessage) =>
      Effect.sync(() => {
        try {
          session.consumer.ack(message)
        } catch {
          // The channel is gone: the broker puts unacked tasks back by itself.
        }
      })

    /** Puts the task back on the queue after `requeueWait`, without holding up the batch. */
    const requeueLater = (session: Session, message: amqp.ConsumeMessage) =>
      Metric.increment(metrics.requeued).pipe(
        Effect.zipRight(FiberSet.run(
          session.requeues,
          Effect.interruptible(Effect.sleep(requeueWait(message))).pipe(
            Effect.ensuring(Effect.sync(() => {
              try {
                session.consumer.nack(message, false, true)
              } catch {
                // The channel is gone: the broker puts unacked tasks back by itself.
              }
            }))
          )
        )),
        Effect.asVoid
      )

    /** Publishes a copy of the task to `queue` with extra headers; fails unless the broker confirmed it. */
    const forward = (session: Session, message: amqp.ConsumeMessage, queue: string, headers: Record<string, unknown>) => {
      // The copy is a new message to the queue it goes to: it starts its own delivery count.
      const { "x-delivery-count": _, ...kept } = message.properties.headers ?? {}
      return session.publisher.publish(queue, message.content, {
        ...message.properties,
        persistent: true,
        headers: { ...kept, "x-original-routing-key": originalRoutingKey(message), ...headers }
      })
    }

    /** Puts the task in the delay queue that waits `wait` ms (declared on first use). */
    const toDelayQueue = (session: Session, message: amqp.ConsumeMessage, wait: number, headers: Record<string, unknown>) =>
      Effect.gen(function*() {
        if (!session.declaredDelays.has(wait)) {
          yield* Effect.tryPromise({
            try: () => declareDelayQueue(session.connection, names, wait),
            catch: (error) =>
              new PublishFailed({ queue: names.delayQueue(wait), reason: `cannot declare it: ${describeError(error)}`, unroutable: false })
          })
          session.declaredDelays.add(wait)
        }
        yield* forward(session, message, names.delayQueue(wait), headers).pipe(
          // The queue is gone (deleted, or the broker lost its definitions): declared again next time.
          Effect.tapError((error) => error.unroutable ? Effect.sync(() => session.declaredDelays.delete(wait)) : Effect.void)
        )
      })

    /** Another claim holds the task: this copy looks again after about `millis` (sent by then, or the claim ran out). */
    const lookAgainLater = (session: Session, message: amqp.ConsumeMessage, millis: number) =>
      toDelayQueue(session, message, delayFor(delays, millis), {}).pipe(Effect.zipRight(ack(session, message)))

    const deadLetter = (session: Session, message: amqp.ConsumeMessage, reason: string, attempts: number) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        yield* forward(session, message, names.deadLetterQueue, {
          "x-dead-letter-reason": reason,
          "x-attempts": attempts,
          "x-dead-lettered-at": new Date(now).toISOString()
        })
        yield* Metric.increment(metrics.deadLettered)
        yield* Effect.logWarning("task dead-lettered").pipe(
          Effect.annotateLogs({ messageId: String(message.properties.messageId ?? ""), reason, attempts })
        )
      })

    // Dead-lettered first: if recording fails after that, the task comes back and at worst is
    // dead-lettered twice, rather than recorded dead and missing from the dead-letter queue.
    const giveUp = (session: Session, { message, task }: Received, reason: string, attempts: number) =>
      deadLetter(session, message, reason, attempts).pipe(
        Effect.zipRight(patiently(deliveries.markDead(task.eventId, reason))),
        Effect.zipRight(ack(session, message))
      )

    /** True while the claim is still `attempt`'s with at least half its lease left, renewing it when less is left. */
    const holdLease = (task: Task, attempt: number, claimedAt: number) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        if (now - claimedAt < halfLease) return true
        return yield* patiently(deliveries.renewClaim(task.eventId, attempt, lease))
      })

    /** One claimed task: render, push, record the outcome, ack; on failure retry or dead-letter it. */
    const attempt = (session: Session, received: Received, claim: Extract<Claim, { _tag: "Claimed" }>, claimedAt: number) =>
      Effect.gen(function*() {
        const { message, task } = received
        if (claim.tookOver) {
          yield* Metric.increment(metrics.repushed)
          yield* Effect.logWarning(
            "took over a delivery whose last attempt ran out unrecorded; if that attempt pushed, this push repeats it with the same Idempotency-Key"
          ).pipe(Effect.annotateLogs({ eventId: task.eventId, attempt: claim.attempt }))
        }
        const push = renderNotification(task)
        if (Either.isLeft(push)) return yield* giveUp(session, received, push.left, claim.attempt)
        if (!(yield* holdLease(task, claim.attempt, claimedAt))) return yield* lookAgainLater(session, message, 1000)

        const outcome = yield* Effect.either(gateway.send(push.right, task.eventId))
        if (Either.isRight(outcome)) {
          if (options.crashAfterPush === true) yield* crash
          yield* patiently(deliveries.markSent(task.eventId))
          if (options.crashBeforeAck === true) yield* crash
          yield* ack(session, message)
          const now = yield* Clock.currentTimeMillis
          yield* Metric.increment(metrics.sent)
          yield* Metric.update(metrics.endToEnd, now - Date.parse(task.recordedAt))
          return
        }
        const failure = outcome.left
        if (failure.retryable && claim.attempt < options.maxAttempts) {
          const backoff = delays[claim.attempt - 1] ?? delays[delays.length - 1]!
          const asked = failure.retryAfter === undefined ? 0 : Duration.toMillis(failure.retryAfter)
          const wait = delayFor(delays, Math.max(backoff, asked))
          // Recorded before the copy goes to the delay queue: should that fail, the task comes back
          // and is claimed again at once, and a sweeper re-drives it if the copy is lost later.
          const stillClaimed = yield* patiently(
            deliveries.markRetrying(task.eventId, claim.attempt, failure.reason, Duration.sum(Duration.millis(wait), options.sweep.grace))
          )
          // Not claimed any more: the claim ran out and another worker took the task over.
          if (stillClaimed) {
            yield* toDelayQueue(session, message, wait, { "x-attempts": claim.attempt, "x-last-error": failure.reason })
          }
          yield* ack(session, message)
          yield* Metric.increment(metrics.retried)
          yield* Effect.logInfo("push failed; retrying").pipe(
            Effect.annotateLogs({ eventId: task.eventId, attempt: claim.attempt, retryInMs: wait, reason: failure.reason })
          )
          return
        }
        const reason = failure.retryable ? `${failure.reason} (gave up after ${claim.attempt} attempts)` : failure.reason
        return yield* giveUp(session, received, reason, claim.attempt)
      })

    const deliver = (session: Session, received: Received, claim: Claim, claimedAt: number) => {
      switch (claim._tag) {
        case "Settled":
          return Metric.increment(metrics.duplicates).pipe(Effect.zipRight(ack(session, received.message)))
        case "Busy":
          return lookAgainLater(session, received.message, Math.min(1000, Duration.toMillis(claim.retryIn)))
        case "Claimed":
          return attempt(session, received, claim, claimedAt)
      }
    }

    /** Runs what settles one message; should it fail, that message alone goes back to the queue, after a wait. */
    const settling = <E>(session: Session, message: amqp.ConsumeMessage, settle: Effect.Effect<void, E>) =>
      settle.pipe(
        Effect.catchAllCause((cause) =>
          Effect.logWarning("task not settled; it goes back to the queue after a wait", cause).pipe(
            Effect.annotateLogs({ messageId: String(message.properties.messageId ?? "") }),
            Effect.zipRight(requeueLater(session, message))
          )
        )
      )

    /**
     * A task's delivery is a step of the trace of the command that caused it: a child span of the
     * context its message carries (retries included, so that the trace shows every attempt), and
     * the push request carries it on.
     */
    const continuingTrace = ({ message, task }: Received) => <A, E, R>(effect: Effect.Effect<A, E, R>) => {
      const headers = message.properties.headers ?? {}
      const text = (value: unknown) => typeof value === "string" ? value : undefined
      const parent = parentSpan(text(headers["traceparent"]), text(headers["tracestate"]))
      return Effect.withSpan(effect, "notification deliver", {
        kind: "consumer",
        captureStackTrace: false,
        attributes: { "messaging.system": "rabbitmq", "messaging.message.id": task.eventId, notification: task.notification },
        ...(Option.isSome(parent) ? { parent: parent.value } : {})
      })
    }

    /** A batch: one claim statement for its tasks, then each task pushed, recorded and acked on its own. */
    const handleBatch = (session: Session, messages: ReadonlyArray<amqp.ConsumeMessage>) =>
      Effect.gen(function*() {
        const received: Array<Received> = []
        const settlements: Array<Effect.Effect<void>> = []
        const seen = new Set<string>()
        for (const message of messages) {
          const decoded = decodeTask(message.content.toString("utf8"))
          if (Either.isLeft(decoded)) {
            const reason = `cannot decode the task: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}`
            settlements.push(settling(session, message, deadLetter(session, message, reason, 0).pipe(Effect.zipRight(ack(session, message)))))
          } else if (seen.has(decoded.right.eventId)) {
            // The same task twice in one batch: the second looks again later.
            settlements.push(settling(session, message, lookAgainLater(session, message, 1000)))
          } else {
            seen.add(decoded.right.eventId)
            received.push({ message, task: decoded.right })
          }
        }
        if (received.length > 0) {
          const claimed = yield* Effect.either(patiently(Effect.zip(
            Clock.currentTimeMillis,
            deliveries.claimMany(received.map(({ message, task }) => ({ task, routingKey: originalRoutingKey(message) })), lease)
          )))
          if (Either.isLeft(claimed)) {
            yield* Effect.logError("tasks could not be claimed; they go back to the queue after a wait").pipe(
              Effect.annotateLogs({ tasks: received.length, error: describeError(claimed.left) })
            )
            for (const { message } of received) yield* requeueLater(session, message)
          } else {
            const [claimedAt, claims] = claimed.right
            for (const one of received) {
              const claim: Claim = claims.get(one.task.eventId) ?? { _tag: "Busy", retryIn: Duration.seconds(1) }
              settlements.push(settling(session, one.message, deliver(session, one, claim, claimedAt)).pipe(continuingTrace(one)))
            }
          }
        }
        yield* Effect.all(settlements, { concurrency: "unbounded", discard: true })
      })

    let down = false
    const setLink = (link: BrokerLink) => options.link === undefined ? Effect.void : Ref.set(options.link, link)

    /** One connection's life: consume until it breaks (then it fails) or the worker stops. */
    const session = Effect.gen(function*() {
      const connection = yield* Effect.acquireRelease(
        Effect.tryPromise(() => amqp.connect(Redacted.value(options.url), { timeout: 5_000 })),
        (connection) => Effect.promise(() => connection.close().catch(() => undefined))
      )
      const broken = yield* Deferred.make<never, Error>()
      const breakWith = (what: string) => (error?: unknown) =>
        Deferred.unsafeDone(broken, Effect.fail(new Error(`${what}${error === undefined ? "" : `: ${describeError(error)}`}`)))
      connection.on("error", breakWith("connection error"))
      connection.on("close", breakWith("connection closed"))
      const consumer = yield* Effect.tryPromise(() => connection.createChannel())
      const confirmChannel = yield* Effect.tryPromise(() => connection.createConfirmChannel())
      consumer.on("error", breakWith("channel error"))
      confirmChannel.on("error", breakWith("channel error"))
      const pushQueue = yield* Effect.tryPromise(() => declareWorkerTopology(connection, names, options.streamTypes, delays))
      if (pushQueue === "outdated") yield* Effect.logWarning(outdatedPushQueue(names))
      yield* Effect.tryPromise(() => consumer.prefetch(options.prefetch))
      const current: Session = {
        connection,
        consumer,
        publisher: makeQueuePublisher(confirmChannel, options.confirmTimeout),
        declaredDelays: new Set(delays),
        requeues: yield* FiberSet.make()
      }

      const inbox = yield* Queue.unbounded<amqp.ConsumeMessage>()
      let inHand = 0
      const batchSize = Math.max(1, Math.ceil(options.concurrency / BATCH_LOOPS))
      const work = Queue.takeBetween(inbox, 1, batchSize).pipe(
        Effect.map((chunk) => Chunk.toReadonlyArray(chunk)),
        Effect.tap((batch) => Effect.sync(() => (inHand += batch.length))),
        Effect.flatMap((batch) =>
          handleBatch(current, batch).pipe(
            Effect.catchAllCause((cause) =>
              // A bug, not a failure of a task: start over, and the broker puts back what is unacked.
              Effect.logError("a batch failed unexpectedly; reconnecting", cause).pipe(
                Effect.zipRight(Effect.sync(() => breakWith("a batch failed unexpectedly")()))
              )
            ),
            Effect.ensuring(Effect.sync(() => (inHand -= batch.length))),
            Effect.uninterruptible
          )
        ),
        Effect.forever
      )
      const handlers = yield* FiberSet.make()
      for (let i = 0; i < BATCH_LOOPS; i++) yield* FiberSet.run(handlers, work)
      yield* Effect.forkScoped(Sweeper.run(current.publisher, { ...options.sweep, pushQueue: names.pushQueue }))
      yield* Effect.forkScoped(purgeForever((limit) => deliveries.purgeSettled(options.deliveryRetention, limit), "settled deliveries"))
      yield* Effect.forkScoped(Depths.measureForever(connection, names))

      const { consumerTag } = yield* Effect.tryPromise(() =>
        consumer.consume(names.pushQueue, (message) => {
          if (message === null) breakWith("the broker cancelled the consumer")()
          else Queue.unsafeOffer(inbox, message)
        })
      )
      // Runs first when the session ends: no new tasks, the ones in hand finished.
      yield* Effect.addFinalizer(() =>
        Effect.gen(function*() {
          yield* Effect.promise(() => consumer.cancel(consumerTag).catch(() => undefined))
          const pending = (yield* Queue.size(inbox)) + inHand
          if (pending > 0) yield* Effect.logInfo("worker finishing the tasks in hand").pipe(Effect.annotateLogs({ pending }))
          yield* Effect.suspend(() => Effect.succeed(inHand === 0)).pipe(
            Effect.zip(Queue.isEmpty(inbox)),
            Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: ([idle, empty]) => idle && empty }),
            Effect.timeout("30 seconds"),
            Effect.ignore
          )
        })
      )
      yield* Effect.logInfo(down ? "worker reconnected to RabbitMQ; consuming again" : "worker consuming").pipe(
        Effect.annotateLogs({ queue: names.pushQueue, prefetch: options.prefetch, concurrency: options.concurrency })
      )
      down = false
      yield* setLink(Option.some(Effect.tryPromise({
        try: () => connection.createChannel().then((channel) => channel.close()),
        catch: (error) => new Error(describeError(error))
      })))
      // Not ready from the moment it breaks, before the tasks in hand are finished and the channels close.
      return yield* Deferred.await(broken).pipe(Effect.onExit(() => setLink(Option.none())))
    }).pipe(Effect.scoped)

    return yield* session.pipe(
      Effect.tapError((error) =>
        down ? Effect.void : Effect.sync(() => (down = true)).pipe(
          Effect.zipRight(Effect.logWarning("worker lost RabbitMQ; reconnecting with backoff").pipe(
            Effect.annotateLogs({ error: describeError(error) })
          ))
        )
      ),
      Effect.retry(Schedule.exponential("200 millis").pipe(Schedule.union(Schedule.spaced("5 seconds")), Schedule.jittered))
    )
  }).pipe(Effect.annotateLogs({ component: "notification-worker" }))
