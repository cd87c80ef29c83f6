/**
 * For notification tests: a local push provider (the development stand-in) whose answers a test can
 * script, the worker wired to it, and tasks published straight to the exchange.
 */
import amqp from "amqplib"
import { Context, Duration, Effect, Layer, Redacted, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import { RelayLive, WorkerLive } from "../../src/app.js"
import { type Answer, type DevPushGateway, type ReceivedPush, startDevPushGateway } from "../../src/notifications/DevPushGateway.js"
import type { NotificationTask, Topology } from "../../src/messaging/contracts.js"
import { startBuiltCli } from "../../bench/lib/processes.js"
import { environmentConfig, messagingEnvironment, type MessagingEnvironment, settings, TestMessaging } from "./messaging.js"
import { opsPortOf } from "./ops.js"

export interface TestPush {
  readonly gateway: DevPushGateway
  /** From now on, answer POSTs this way (200 for everything by default). */
  readonly answerWith: (answer: (push: ReceivedPush, attempt: number) => Answer) => void
}

export class TestPushGateway extends Context.Tag("test/TestPushGateway")<TestPushGateway, TestPush>() {}

/**
 * A local push provider for the test. `honoursIdempotencyKey: false` makes it one that does not
 * deduplicate: every successful POST is a push the customer sees, so repeats can be counted.
 */
export const pushGatewayLayerWith = (options: { readonly honoursIdempotencyKey?: boolean }) =>
  Layer.scoped(
    TestPushGateway,
    Effect.gen(function*() {
      let answer: (push: ReceivedPush, attempt: number) => Answer = () => ({ status: 200 })
      const gateway = yield* Effect.acquireRelease(
        Effect.promise(() => startDevPushGateway({ ...options, answer: (push, attempt) => answer(push, attempt) })),
        (gateway) => Effect.promise(() => gateway.close())
      )
      return { gateway, answerWith: (next) => void (answer = next) }
    })
  )

export const pushGatewayLayer = pushGatewayLayerWith({})

/** Worker settings for tests: quick retries, four attempts, a sweeper that looks often and soon. */
export const workerSettings = {
  retryBaseDelay: Duration.millis(100),
  maxAttempts: 4,
  pushTimeout: Duration.seconds(2),
  sweepInterval: Duration.millis(200),
  sweepGrace: Duration.seconds(1)
}

/**
 * Waits of delay queues tests may make a worker declare: the backoff steps of the bases they use
 * (100 ms, 1 s, 45 s), and whole seconds for Retry-After.
 */
const testDelays = [
  ...new Set([
    ...[100, 1000, 45_000].flatMap((base) => [1, 2, 4, 8].map((factor) => base * factor)),
    ...Array.from({ length: 30 }, (_, i) => (i + 1) * 1000)
  ])
]

/**
 * The prefix's dead-letter and delay queues go when the scope closes (the messaging environment
 * removes the push queue and the exchange).
 */
export const notificationQueuesRemoved = Layer.scopedDiscard(
  Effect.flatMap(TestMessaging, ({ names }) =>
    Effect.addFinalizer(() =>
      Effect.promise(async () => {
        const connection = await amqp.connect(Redacted.value(settings.amqp.url))
        try {
          for (const queue of [names.deadLetterQueue, ...testDelays.map(names.delayQueue)]) {
            const channel = await connection.createChannel()
            channel.on("error", () => undefined)
            await channel.deleteQueue(queue).catch(() => undefined)
            await channel.close().catch(() => undefined)
          }
        } finally {
          await connection.close().catch(() => undefined)
        }
      }).pipe(Effect.timeout("30 seconds"), Effect.ignore)
    ))
)

/** The worker (and optionally the relay and more) in this process, on the test's environment. */
export const workerEnvironment = <A, E, R>(extra: Layer.Layer<A, E, R>) =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const push = yield* TestPushGateway
      const config = environmentConfig(env, { pushGatewayUrl: push.gateway.url, worker: workerSettings })
      return extra.pipe(Layer.provideMerge(WorkerLive), Layer.provide(config))
    })
  ).pipe(
    Layer.provideMerge(notificationQueuesRemoved),
    Layer.provideMerge(Layer.merge(messagingEnvironment, pushGatewayLayer))
  )

export { RelayLive }

export const newTask = (overrides: Partial<NotificationTask> = {}): NotificationTask => ({
  taskVersion: 1,
  eventId: randomUUID(),
  streamType: "order",
  streamId: randomUUID(),
  version: 3,
  notification: "shipped",
  customerId: randomUUID(),
  details: { carrier: "DHL", trackingNumber: "JD0146" },
  recordedAt: new Date().toISOString(),
  correlationId: randomUUID(),
  ...overrides
})

/** Publishes raw tasks to the notifications exchange, as the relay does, and waits for the confirms. */
export const publishRaw = (names: Topology, messages: ReadonlyArray<{ readonly routingKey: string; readonly messageId: string; readonly content: string }>) =>
  Effect.promise(async () => {
    const connection = await amqp.connect(Redacted.value(settings.amqp.url))
    try {
      const channel = await connection.createConfirmChannel()
      await channel.assertExchange(names.notificationsExchange, "topic", { durable: true })
      for (const message of messages) {
        channel.publish(names.notificationsExchange, message.routingKey, Buffer.from(message.content), {
          persistent: true,
          messageId: message.messageId,
          contentType: "application/json"
        })
      }
      await channel.waitForConfirms()
    } finally {
      await connection.close()
    }
  })

export const publishTasks = (names: Topology, tasks: ReadonlyArray<NotificationTask>) =>
  publishRaw(names, tasks.map((task) => ({ routingKey: `order.${task.notification}`, messageId: task.eventId, content: JSON.stringify(task) })))

/** Waits until `condition` holds (polling), or fails saying what it waited for. */
export const eventually = <A, R>(what: string, probe: Effect.Effect<A, never, R>, condition: (value: A) => boolean, timeout = Duration.seconds(30)) =>
  probe.pipe(
    Effect.filterOrFail(condition, (value) => new Error(`timed out waiting until ${what} (last: ${JSON.stringify(value)})`)),
    Effect.retry(Schedule.spaced("50 millis")),
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error(`timed out waiting until ${what}`) })
  )

/** Pushes the gateway showed for an event id (repeats of a key are not new pushes, unless it does not honour keys). */
export const deliveredFor = (push: TestPush, eventId: string) =>
  Effect.sync(() => push.gateway.delivered.filter((received) => received.idempotencyKey === eventId))

export const requestsFor = (push: TestPush, eventId: string) =>
  Effect.sync(() => push.gateway.requests.filter((received) => received.idempotencyKey === eventId))

/** How many messages are ready in a queue (0 while it is not declared yet). */
export const queueDepth = (queue: string) =>
  Effect.promise(async () => {
    const connection = await amqp.connect(Redacted.value(settings.amqp.url))
    connection.on("error", () => undefined)
    try {
      const channel = await connection.createChannel()
      channel.on("error", () => undefined)
      return (await channel.checkQueue(queue)).messageCount
    } catch (error) {
      if ((error as { code?: unknown }).code === 404) return 0
      throw error
    } finally {
      await connection.close()
    }
  })

/** Removes every message waiting in a queue, as a broker that lost them would. */
export const purgeQueue = (queue: string) =>
  Effect.promise(async () => {
    const connection = await amqp.connect(Redacted.value(settings.amqp.url))
    try {
      const channel = await connection.createChannel()
      return (await channel.purgeQueue(queue)).messageCount
    } finally {
      await connection.close()
    }
  })

/** Deletes a queue, as an operator (or a broker that lost its definitions) would. */
export const deleteQueue = (queue: string) =>
  Effect.promise(async () => {
    const connection = await amqp.connect(Redacted.value(settings.amqp.url))
    try {
      const channel = await connection.createChannel()
      await channel.deleteQueue(queue)
    } finally {
      await connection.close()
    }
  })

const CONSUMING = /worker consuming/

/**
 * A worker process on the environment, pushing to the test's provider, on a free port; gives it and
 * the port its /metrics are on, once it consumes. It is killed when the scope closes.
 */
export const workerProcess = (env: MessagingEnvironment, push: TestPush, extra: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function*() {
    const process = yield* startBuiltCli(["worker"], {
      DATABASE_URL: env.databaseUrl,
      MESSAGING_PREFIX: env.prefix,
      PUSH_GATEWAY_URL: push.gateway.url,
      WORKER_PORT: "0",
      WORKER_RETRY_BASE_DELAY: "100 millis",
      ...extra
    })
    const port = yield* opsPortOf(process)
    yield* process.waitForLine(CONSUMING, 30_000)
    return { process, port }
  })

/** A migrated database, a prefix and a push provider that does not honour Idempotency-Key (each successful POST is a push the customer saw). */
export const nonDeduplicatingEnvironment = notificationQueuesRemoved.pipe(
  Layer.provideMerge(Layer.merge(messagingEnvironment, pushGatewayLayerWith({ honoursIdempotencyKey: false })))
)
