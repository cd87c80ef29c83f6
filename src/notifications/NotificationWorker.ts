/**
 * The notification worker: consumes push-notification tasks and delivers each exactly once in effect.
 *
 * Per task: decode it (a task that cannot be decoded goes to the dead-letter queue at once), claim
 * it in the delivery records (a task already sent is acked and dropped; one another worker is
 * sending waits its turn in a delay queue), render it, send it to the push gateway with the event id
 * as idempotency key, record the outcome, and only then ack. A failure that may pass is retried
 * through delay queues — one per wait, each dead-lettering back to the push queue when its TTL runs
 * out — waiting base × 2^(attempt − 1), or longer when the gateway asked (429 Retry-After); after the
 * last attempt, or at once when the gateway refuses the request, the task goes to the dead-letter
 * queue with the reason and the attempt count in its headers.
 *
 * Any number of workers may consume the queue side by side. A lost connection is reconnected with
 * backoff; unacked tasks go back to the queue. On shutdown the consumer is cancelled first, the tasks
 * in hand are finished, and then the channels close.
 */
import amqp from "amqplib"
import {
  Chunk,
  Deferred,
  Duration,
  Effect,
  Either,
  FiberSet,
  Metric,
  MetricBoundaries,
  ParseResult,
  Queue,
  Redacted,
  Schedule,
  Schema
} from "effect"
import { NotificationTask, type Topology } from "../outbox/messages.js"
import { declareTopology } from "../outbox/RabbitPublisher.js"
import { type Claim, DeliveryStore } from "./DeliveryStore.js"
import { PushGateway } from "./PushGateway.js"
import { renderNotification } from "./render.js"

export interface NotificationWorkerOptions {
  readonly url: Redacted.Redacted
  readonly names: Topology
  readonly streamTypes: ReadonlyArray<string>
  readonly prefetch: number
  readonly concurrency: number
  readonly maxAttempts: number
  readonly retryBaseDelay: Duration.Duration
  /** How long a claim keeps other workers off a task while it is being sent. */
  readonly claimLease: Duration.Duration
  /** Fault injection for tests: the process kills itself after recording a push, before the ack. */
  readonly crashBeforeAck?: boolean
}

export const sent = Metric.counter("notifications_sent_total", { description: "Push notifications sent", incremental: true })
const retried = Metric.counter("notifications_retried_total", {
  description: "Failed push attempts scheduled for a retry",
  incremental: true
})
const deadLettered = Metric.counter("notifications_dead_lettered_total", {
  description: "Tasks moved to the dead-letter queue",
  incremental: true
})
export const duplicates = Metric.counter("notifications_duplicates_total", {
  description: "Deliveries of tasks already sent or given up (acked, nothing sent)",
  incremental: true
})
const endToEnd = Metric.histogram(
  "notification_end_to_end_ms",
  MetricBoundaries.exponential({ start: 5, factor: 2, count: 14 }),
  "Time from the event's commit to the push gateway's answer"
)

/** The waits before retry 1, 2, …: base × 2^(n − 1), one per attempt after the first. */
export const retryDelays = (options: Pick<NotificationWorkerOptions, "maxAttempts" | "retryBaseDelay">) =>
  Array.from({ length: Math.max(0, options.maxAttempts - 1) }, (_, i) => Duration.toMillis(options.retryBaseDelay) * 2 ** i)

/**
 * The wait, in milliseconds, of the delay queue for a wait of at least `millis`: a backoff step when
 * one fits exactly, otherwise `millis` rounded up to a whole second (such queues are declared when
 * first needed, so a Retry-After is honoured without one queue per millisecond).
 */
export const delayFor = (delays: ReadonlyArray<number>, millis: number) =>
  delays.includes(millis) ? millis : Math.max(1000, Math.ceil(millis / 1000) * 1000)

const delayQueueArguments = (names: Topology, delay: number) => ({
  durable: true,
  arguments: { "x-message-ttl": delay, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": names.pushQueue }
})

/** Declares the push queue and its bindings, the dead-letter queue and the delay queues. */
export const declareWorkerTopology = async (
  channel: amqp.Channel,
  names: Topology,
  streamTypes: ReadonlyArray<string>,
  delays: ReadonlyArray<number>
) => {
  await declareTopology(channel, names, streamTypes)
  await channel.assertQueue(names.deadLetterQueue, { durable: true, arguments: { "x-queue-type": "quorum" } })
  for (const delay of delays) await channel.assertQueue(names.retryQueue(delay), delayQueueArguments(names, delay))
}

const decodeTask = Schema.decodeUnknownEither(Schema.parseJson(NotificationTask))

/** Batches handled at the same time; each holds up to concurrency / BATCH_LOOPS tasks. */
const BATCH_LOOPS = 4

const describeError = (error: unknown) => error instanceof Error ? error.message : String(error)

interface Channels {
  readonly consumer: amqp.Channel
  readonly publisher: amqp.ConfirmChannel
  /** Delay queues declared on this connection. */
  readonly declaredDelays: Set<number>
}

export const run = (options: NotificationWorkerOptions) =>
  Effect.gen(function*() {
    const deliveries = yield* DeliveryStore
    const gateway = yield* PushGateway
    const delays = retryDelays(options)
    const { names } = options

    /** The routing key the task was first published with (retries arrive through the delay queues). */
    const originalRoutingKey = (message: amqp.ConsumeMessage) =>
      String(message.properties.headers?.["x-original-routing-key"] ?? message.fields.routingKey)

    /** Publishes a copy of the task to `queue` with extra headers, and waits for the broker's confirm. */
    const forward = (channels: Channels, message: amqp.ConsumeMessage, queue: string, headers: Record<string, unknown>) =>
      Effect.tryPromise(async () => {
        channels.publisher.sendToQueue(queue, message.content, {
          ...message.properties,
          persistent: true,
          headers: { ...message.properties.headers, "x-original-routing-key": originalRoutingKey(message), ...headers }
        })
        await channels.publisher.waitForConfirms()
      })

    /** Puts the task in the delay queue that waits `millis` (declared on first use). */
    const delay = (channels: Channels, message: amqp.ConsumeMessage, millis: number, headers: Record<string, unknown>) =>
      Effect.gen(function*() {
        const wait = delayFor(delays, millis)
        if (!channels.declaredDelays.has(wait)) {
          yield* Effect.tryPromise(() => channels.publisher.assertQueue(names.retryQueue(wait), delayQueueArguments(names, wait)))
          channels.declaredDelays.add(wait)
        }
        yield* forward(channels, message, names.retryQueue(wait), headers)
        return wait
      })

    const deadLetter = (channels: Channels, message: amqp.ConsumeMessage, reason: string, attempts: number) =>
      forward(channels, message, names.deadLetterQueue, {
        "x-dead-letter-reason": reason,
        "x-attempts": attempts,
        "x-dead-lettered-at": new Date().toISOString()
      }).pipe(
        Effect.zipRight(Metric.increment(deadLettered)),
        Effect.zipRight(Effect.logWarning("task dead-lettered").pipe(
          Effect.annotateLogs({ messageId: String(message.properties.messageId ?? ""), reason, attempts })
        ))
      )

    /** What became of one task: pushed (to be recorded and acked), or settled otherwise (to be acked). */
    type Outcome = { readonly _tag: "Pushed"; readonly task: NotificationTask } | { readonly _tag: "Settled" }
    const settled: Outcome = { _tag: "Settled" }

    /** One claimed task: render, push, and on failure retry or dead-letter it. */
    const deliver = (channels: Channels, message: amqp.ConsumeMessage, task: NotificationTask, attempt: number) =>
      Effect.gen(function*() {
        const push = renderNotification(task)
        if (Either.isLeft(push)) {
          yield* deadLetter(channels, message, push.left, attempt)
          yield* deliveries.markDead(task.eventId, push.left)
          return settled
        }
        const outcome = yield* Effect.either(gateway.send(push.right, task.eventId))
        if (Either.isRight(outcome)) return { _tag: "Pushed", task } as const
        const failure = outcome.left
        if (failure.retryable && attempt < options.maxAttempts) {
          const backoff = delays[attempt - 1] ?? delays[delays.length - 1]!
          const asked = failure.retryAfter === undefined ? 0 : Duration.toMillis(failure.retryAfter)
          yield* deliveries.markRetrying(task.eventId, failure.reason)
          const wait = yield* delay(channels, message, Math.max(backoff, asked), {
            "x-attempts": attempt,
            "x-last-error": failure.reason
          })
          yield* Metric.increment(retried)
          yield* Effect.logInfo("push failed; retrying").pipe(
            Effect.annotateLogs({ eventId: task.eventId, attempt, retryInMs: wait, reason: failure.reason })
          )
          return settled
        }
        const reason = failure.retryable ? `${failure.reason} (gave up after ${attempt} attempts)` : failure.reason
        yield* deadLetter(channels, message, reason, attempt)
        yield* deliveries.markDead(task.eventId, reason)
        return settled
      })

    /**
     * A batch of deliveries: one claim statement and one record statement for all of them, the
     * pushes side by side. Every message is acked once its outcome is recorded; when the database or
     * the broker fails, the batch goes back to the queue.
     */
    const handleBatch = (channels: Channels, messages: ReadonlyArray<amqp.ConsumeMessage>) =>
      Effect.gen(function*() {
        const claimable: Array<{ message: amqp.ConsumeMessage; task: NotificationTask }> = []
        const later: Array<amqp.ConsumeMessage> = []
        const seen = new Set<string>()
        for (const message of messages) {
          const decoded = decodeTask(message.content.toString("utf8"))
          if (Either.isLeft(decoded)) {
            yield* deadLetter(channels, message, `cannot decode the task: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}`, 0)
            channels.consumer.ack(message)
          } else if (seen.has(decoded.right.eventId)) {
            later.push(message) // the same task twice in one batch: the second looks again later
          } else {
            seen.add(decoded.right.eventId)
            claimable.push({ message, task: decoded.right })
          }
        }
        const claims = claimable.length === 0
          ? new Map<string, Claim>()
          : yield* deliveries.claimMany(claimable.map(({ task }) => task), options.claimLease)
        const outcomes = yield* Effect.forEach(claimable, ({ message, task }) => {
          const claim: Claim = claims.get(task.eventId) ?? { _tag: "Busy", retryIn: Duration.seconds(1) }
          switch (claim._tag) {
            case "Settled":
              return Effect.as(Metric.increment(duplicates), settled)
            case "Busy":
              // Another worker holds it: look again in a second (sent by then, or its claim ran out).
              return Effect.as(delay(channels, message, Math.min(1000, Duration.toMillis(claim.retryIn)), {}), settled)
            case "Claimed":
              return deliver(channels, message, task, claim.attempt)
          }
        }, { concurrency: "unbounded" })
        for (const message of later) yield* delay(channels, message, 1000, {})

        const pushed = outcomes.flatMap((outcome) => outcome._tag === "Pushed" ? [outcome.task] : [])
        yield* deliveries.markSent(pushed.map((task) => task.eventId))
        if (pushed.length > 0 && options.crashBeforeAck === true) process.kill(process.pid, "SIGKILL")
        for (const { message } of claimable) channels.consumer.ack(message)
        for (const message of later) channels.consumer.ack(message)
        const now = Date.now()
        yield* Metric.incrementBy(sent, pushed.length)
        yield* Effect.forEach(pushed, (task) => Metric.update(endToEnd, now - Date.parse(task.recordedAt)), { discard: true })
      })

    let down = false

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
      const channels: Channels = {
        consumer: yield* Effect.tryPromise(() => connection.createChannel()),
        publisher: yield* Effect.tryPromise(() => connection.createConfirmChannel()),
        declaredDelays: new Set(delays)
      }
      channels.consumer.on("error", breakWith("channel error"))
      channels.publisher.on("error", breakWith("channel error"))
      yield* Effect.tryPromise(() => declareWorkerTopology(channels.publisher, names, options.streamTypes, delays))
      yield* Effect.tryPromise(() => channels.consumer.prefetch(options.prefetch))

      const inbox = yield* Queue.unbounded<amqp.ConsumeMessage>()
      let inHand = 0
      const batchSize = Math.max(1, Math.ceil(options.concurrency / BATCH_LOOPS))
      const work = Queue.takeBetween(inbox, 1, batchSize).pipe(
        Effect.map((chunk) => Chunk.toReadonlyArray(chunk)),
        Effect.tap((batch) => Effect.sync(() => (inHand += batch.length))),
        Effect.flatMap((batch) =>
          handleBatch(channels, batch).pipe(
            Effect.catchAllCause((cause) =>
              // Not decided (the database or the broker failed): back to the queue, after a pause.
              Effect.logError("tasks not handled; they go back to the queue", cause).pipe(
                Effect.zipRight(Effect.sleep("1 second")),
                Effect.zipRight(Effect.sync(() => {
                  for (const message of batch) {
                    try {
                      channels.consumer.nack(message, false, true)
                    } catch {
                      // the channel is gone: unacked tasks return to the queue by themselves
                    }
                  }
                }))
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

      const { consumerTag } = yield* Effect.tryPromise(() =>
        channels.consumer.consume(names.pushQueue, (message) => {
          if (message === null) breakWith("the broker cancelled the consumer")()
          else Queue.unsafeOffer(inbox, message)
        })
      )
      // Runs first when the session ends: no new tasks, the ones in hand finished.
      yield* Effect.addFinalizer(() =>
        Effect.gen(function*() {
          yield* Effect.promise(() => channels.consumer.cancel(consumerTag).catch(() => undefined))
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
      return yield* Deferred.await(broken)
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
