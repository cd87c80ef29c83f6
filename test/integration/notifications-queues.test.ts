/**
 * The RabbitMQ queues the notification worker relies on, against the real broker: the push queue
 * gives up on a task only after its delivery limit, into the dead-letter queue; delay queues are
 * quorum queues that dead-letter at least once; a push queue of an earlier version is used as it is.
 */
import { expect, layer } from "@effect/vitest"
import amqp from "amqplib"
import { Effect, Layer, Redacted } from "effect"
import { listDeadLetters } from "../../src/notifications/deadLetters.js"
import { declareWorkerTopology } from "../../src/notifications/topology.js"
import { topology } from "../../src/messaging/contracts.js"
import { declareTopologyOn, onFreshChannel, PUSH_QUEUE_DELIVERY_LIMIT } from "../../src/messaging/rabbitTopology.js"
import { removeTopology } from "../../bench/lib/brokers.js"
import { messagingEnvironment, settings, TestMessaging } from "../support/messaging.js"
import { eventually, newTask, notificationQueuesRemoved, publishTasks } from "../support/notifications.js"

const Environment = notificationQueuesRemoved.pipe(Layer.provideMerge(messagingEnvironment))

/** A connection for the test, closed at the end. */
const connection = Effect.acquireRelease(
  Effect.promise(() => amqp.connect(Redacted.value(settings.amqp.url))),
  (connection) => Effect.promise(() => connection.close().catch(() => undefined))
)

const refusal = (promise: () => Promise<unknown>) =>
  Effect.promise(() => promise().then(() => "accepted", (error: unknown) => String((error as Error).message)))

layer(Environment, { excludeTestServices: true })("notification queues", (it) => {
  it.scoped("a task redelivered past the push queue's delivery limit goes to the dead-letter queue, listed with why", () =>
    Effect.gen(function*() {
      const { names } = yield* TestMessaging
      const amqpConnection = yield* connection
      expect(yield* Effect.promise(() => declareWorkerTopology(amqpConnection, names, ["order"], [100]))).toBe("current")
      const task = newTask()
      yield* publishTasks(names, [task])

      // What a worker that can never claim the task would do, without waiting in between.
      const deliveries = yield* Effect.promise(() =>
        onFreshChannel(amqpConnection, async (channel) => {
          let count = 0
          for (let idle = 0; idle < 50;) {
            const message = await channel.get(names.pushQueue, { noAck: false })
            if (message === false) {
              idle++
              await new Promise((resolve) => setTimeout(resolve, 20))
              continue
            }
            count++
            channel.nack(message, false, true)
          }
          return count
        })
      )
      expect(deliveries).toBe(PUSH_QUEUE_DELIVERY_LIMIT + 1)
      const letters = yield* eventually(
        "the task is in the dead-letter queue",
        Effect.orDie(listDeadLetters(settings.amqp.url, names, 100)),
        (found) => found.some((letter) => letter.eventId === task.eventId)
      )
      const letter = letters.find((found) => found.eventId === task.eventId)!
      expect(letter.reason).toMatch(/redelivered too often/)
      expect(letter.routingKey).toBe("order.shipped")
      expect(letter.deadLetteredAt).not.toBe("")
    }))

  it.scoped("delay queues are quorum queues that dead-letter at least once", () =>
    Effect.gen(function*() {
      const { names } = yield* TestMessaging
      const amqpConnection = yield* connection
      yield* Effect.promise(() => declareWorkerTopology(amqpConnection, names, ["order"], [100]))
      const declaredWith = (changes: Record<string, unknown>) =>
        refusal(() =>
          onFreshChannel(amqpConnection, (channel) =>
            channel.assertQueue(names.delayQueue(100), {
              durable: true,
              arguments: {
                "x-queue-type": "quorum",
                "x-message-ttl": 100,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": names.pushQueue,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
                ...changes
              }
            })))
      // RabbitMQ accepts a declaration only when it matches the queue's arguments.
      expect(yield* declaredWith({})).toBe("accepted")
      expect(yield* declaredWith({ "x-dead-letter-strategy": "at-most-once" })).toMatch(/inequivalent arg 'x-dead-letter-strategy'/)
      expect(yield* declaredWith({ "x-overflow": "drop-head" })).toMatch(/inequivalent arg 'x-overflow'/)
    }))

  it.scoped("a push queue declared by an earlier version is used as it is, and said to be outdated", () =>
    Effect.gen(function*() {
      const { prefix } = yield* TestMessaging
      const names = topology(`${prefix}earlier.`)
      yield* Effect.addFinalizer(() => removeTopology(`${prefix}earlier.`))
      const amqpConnection = yield* connection
      yield* Effect.promise(() =>
        onFreshChannel(amqpConnection, (channel) =>
          channel.assertQueue(names.pushQueue, { durable: true, arguments: { "x-queue-type": "quorum" } })))

      expect(yield* Effect.promise(() => declareTopologyOn(amqpConnection, names, ["order"]))).toBe("outdated")
      // Still bound: a task published to the exchange reaches it.
      yield* publishTasks(names, [newTask()])
      yield* eventually(
        "the task reached the outdated queue",
        Effect.promise(() => onFreshChannel(amqpConnection, (channel) => channel.checkQueue(names.pushQueue))),
        (queue) => queue.messageCount === 1
      )
    }))
})
