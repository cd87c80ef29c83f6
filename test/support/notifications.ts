/**
 * For notification tests: a local push provider (the development stand-in) whose answers a test can
 * script, the worker wired to it, and tasks published straight to the exchange.
 */
import amqp from "amqplib"
import { Context, Duration, Effect, Layer, Redacted, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import { RelayLive, WorkerLive } from "../../src/app.js"
import { type Answer, type DevPushGateway, type ReceivedPush, startDevPushGateway } from "../../src/notifications/DevPushGateway.js"
import type { NotificationTask, Topology } from "../../src/outbox/messages.js"
import { environmentConfig, messagingEnvironment, settings, TestMessaging } from "./messaging.js"

export interface TestPush {
  readonly gateway: DevPushGateway
  /** From now on, answer POSTs this way (200 for everything by default). */
  readonly answerWith: (answer: (push: ReceivedPush, attempt: number) => Answer) => void
}

export class TestPushGateway extends Context.Tag("test/TestPushGateway")<TestPushGateway, TestPush>() {}

export const pushGatewayLayer = Layer.scoped(
  TestPushGateway,
  Effect.gen(function*() {
    let answer: (push: ReceivedPush, attempt: number) => Answer = () => ({ status: 200 })
    const gateway = yield* Effect.acquireRelease(
      Effect.promise(() => startDevPushGateway({ answer: (push, attempt) => answer(push, attempt) })),
      (gateway) => Effect.promise(() => gateway.close())
    )
    return { gateway, answerWith: (next) => void (answer = next) }
  })
)

/** Worker settings for tests: quick retries, four attempts. */
export const workerSettings = { retryBaseDelay: Duration.millis(100), maxAttempts: 4, pushTimeout: Duration.seconds(2) }

/** The worker (and optionally the relay and more) in this process, on the test's environment. */
export const workerEnvironment = <A, E, R>(extra: Layer.Layer<A, E, R>) =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const push = yield* TestPushGateway
      const config = environmentConfig(env, { pushGatewayUrl: push.gateway.url, worker: workerSettings })
      return extra.pipe(Layer.provideMerge(WorkerLive), Layer.provide(config))
    })
  ).pipe(Layer.provideMerge(Layer.merge(messagingEnvironment, pushGatewayLayer)))

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

/** Pushes the gateway showed for an event id (repeats of a key are not new pushes). */
export const deliveredFor = (push: TestPush, eventId: string) =>
  Effect.sync(() => push.gateway.delivered.filter((received) => received.idempotencyKey === eventId))

export const requestsFor = (push: TestPush, eventId: string) =>
  Effect.sync(() => push.gateway.requests.filter((received) => received.idempotencyKey === eventId))

/** How many messages are ready in a queue. */
export const queueDepth = (queue: string) =>
  Effect.promise(async () => {
    const connection = await amqp.connect(Redacted.value(settings.amqp.url))
    try {
      const channel = await connection.createChannel()
      return (await channel.checkQueue(queue)).messageCount
    } finally {
      await connection.close()
    }
  })
