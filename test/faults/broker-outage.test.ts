/**
 * Broker outages, for real: the broker is stopped in the middle of a stream of commands and started
 * again. These tests run after every other test file, alone (the `faults` project), because they
 * take a broker away from everyone.
 */
import { service } from "../support/faults/services.js"
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Layer, Logger, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import { OrderActors } from "../../src/aggregates.js"
import * as Outbox from "../../src/outbox/OutboxStore.js"
import {
  allEvents,
  appOnEnvironment,
  orderLifeAfterPlacing,
  readQueue,
  readTopic,
  TestMessaging,
  versionsByKey
} from "../support/messaging.js"
import { options, placeOrder } from "../support/orders.js"



/** Log lines the relay wrote, as `LEVEL message`. */
const logged: Array<string> = []
const CaptureLogs = Logger.add(Logger.make(({ logLevel, message }) => {
  logged.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
}))

const Environment = Layer.provideMerge(Outbox.layer, appOnEnvironment({ relay: true })).pipe(Layer.provide(CaptureLogs))

/** Orders placed and taken through their lives one after another, about 20 a second, until `stop` is set. */
const steadyTraffic = (state: { stop: boolean }) =>
  Effect.gen(function*() {
    const orders = yield* OrderActors
    while (!state.stop) {
      const id = randomUUID()
      const placed = yield* orders.execute(id, placeOrder(), options())
      for (const command of orderLifeAfterPlacing(placed.state.totalCents)) yield* orders.execute(id, command, options())
      yield* Effect.sleep("50 millis")
    }
  })

const NOTIFIED = new Set(["OrderConfirmed", "PaymentRequested", "OrderPaid", "OrderShipped", "OrderDelivered"])

/** Waits until `destination`'s cursor has passed every event stored so far (at least one). */
const caughtUp = (destination: Outbox.Destination) =>
  Effect.gen(function*() {
    const outbox = yield* Outbox.OutboxStore
    const stored = (yield* allEvents).filter((event) => destination === "events" || NOTIFIED.has(event.type))
    const cursor = yield* outbox.cursorOf(destination)
    if (stored.length === 0 || cursor.globalPosition < stored.at(-1)!.globalPosition) {
      return yield* Effect.fail(new Error(`${destination} has not caught up`))
    }
  }).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 300 }))

const containsAll = (seen: ReadonlyArray<string>, wanted: ReadonlySet<string>) => {
  const present = new Set(seen)
  return [...wanted].every((id) => present.has(id))
}

/** Kafka has every event ever stored; the queue, every notification of the events after `afterPosition`. */
const expectEverythingDelivered = (afterPosition: number) => Effect.gen(function*() {
  const { names } = yield* TestMessaging
  const stored = yield* allEvents
  const eventIds = new Set(stored.map((event) => event.eventId))
  const received = yield* readTopic(names.eventsTopic("order"), (messages) =>
    containsAll(messages.map((message) => message.value.eventId), eventIds))
  expect(new Set(received.map((message) => message.value.eventId))).toEqual(eventIds)
  const expected = new Map<string, Array<number>>()
  for (const event of stored) expected.set(event.streamId, [...(expected.get(event.streamId) ?? []), event.version])
  expect(versionsByKey(received)).toEqual(expected)

  const notificationIds = new Set(
    stored.filter((event) => event.globalPosition > afterPosition && NOTIFIED.has(event.type)).map((event) => event.eventId)
  )
  const tasks = yield* readQueue(names, (messages) =>
    containsAll(messages.map((message) => String(message.properties.messageId)), notificationIds))
  // Nothing missing; redeliveries and the previous test's unconsumed tasks may come too.
  const delivered = new Set(tasks.map((task) => task.properties.messageId))
  expect([...notificationIds].filter((id) => !delivered.has(id))).toEqual([])
})

layer(Environment, { excludeTestServices: true })("a broker outage in the middle of a stream", (it) => {
  it.effect("RabbitMQ stopped: Kafka keeps flowing, and every notification is published once it is back", () =>
    Effect.gen(function*() {
      const before = (yield* allEvents).at(-1)?.globalPosition ?? 0
      const traffic = { stop: false }
      const running = yield* Effect.fork(steadyTraffic(traffic))
      yield* caughtUp("notifications")
      yield* service("stop", "rabbitmq")
      const downAt = (yield* allEvents).length
      // Commands keep being accepted, and Kafka keeps receiving them while RabbitMQ is away.
      yield* Effect.sleep("2 seconds")
      expect((yield* allEvents).length).toBeGreaterThan(downAt)
      yield* caughtUp("events")
      yield* service("start", "rabbitmq")
      yield* Effect.sleep("1 second")
      traffic.stop = true
      yield* Fiber.join(running)
      yield* caughtUp("notifications")
      yield* expectEverythingDelivered(before)
      expect(logged.filter((line) => /rabbitmq is unavailable/.test(line))).toHaveLength(1)
      expect(logged.filter((line) => /rabbitmq is back/.test(line))).toHaveLength(1)
    }).pipe(Effect.ensuring(service("start", "rabbitmq"))), 180_000)

  it.effect("Kafka stopped: notifications keep flowing, and every event is published once it is back", () =>
    Effect.gen(function*() {
      logged.length = 0
      const before = (yield* allEvents).at(-1)?.globalPosition ?? 0
      const traffic = { stop: false }
      const running = yield* Effect.fork(steadyTraffic(traffic))
      yield* caughtUp("events")
      yield* service("stop", "kafka")
      const downAt = (yield* allEvents).length
      yield* Effect.sleep("2 seconds")
      expect((yield* allEvents).length).toBeGreaterThan(downAt)
      yield* caughtUp("notifications")
      yield* service("start", "kafka")
      yield* Effect.sleep("1 second")
      traffic.stop = true
      yield* Fiber.join(running)
      yield* caughtUp("events")
      yield* expectEverythingDelivered(before)
      expect(logged.filter((line) => /kafka is unavailable/.test(line))).toHaveLength(1)
      expect(logged.filter((line) => /kafka is back/.test(line))).toHaveLength(1)
    }).pipe(Effect.ensuring(service("start", "kafka"))), 180_000)
})
