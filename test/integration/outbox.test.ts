import { expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { OrderActors } from "../../src/aggregates.js"
import { EventStore } from "../../src/eventstore/EventStore.js"
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

/** Places `count` orders and takes each through its whole life, concurrently; gives their ids. */
const runOrderLives = (count: number) =>
  Effect.gen(function*() {
    const orders = yield* OrderActors
    const ids: Array<string> = Array.from({ length: count }, () => randomUUID())
    yield* Effect.forEach(ids, (id) =>
      Effect.gen(function*() {
        const placed = yield* orders.execute(id, placeOrder(), options())
        for (const command of orderLifeAfterPlacing(placed.state.totalCents)) yield* orders.execute(id, command, options())
      }), { concurrency: 16, discard: true })
    return ids
  })

layer(Outbox.layer.pipe(Layer.provideMerge(appOnEnvironment({ relay: true }))), { excludeTestServices: true })("outbox relay", (it) => {
  it.effect("publishes every event to Kafka in version order per key, and the notifications to RabbitMQ", () =>
    Effect.gen(function*() {
      const { names } = yield* TestMessaging
      const ids = yield* runOrderLives(20)
      const stored = (yield* allEvents).filter((event) => ids.includes(event.streamId))
      expect(stored.length).toBe(20 * 7)

      const received = yield* readTopic(names.eventsTopic("order"), (messages) => messages.length >= stored.length)
      expect(received.length).toBe(stored.length)
      for (const [key, versions] of versionsByKey(received)) {
        expect(ids).toContain(key)
        expect(versions).toEqual([1, 2, 3, 4, 5, 6, 7])
      }
      // The envelope and headers are the stored event, in the published contract's shape.
      const byId = new Map(received.map((message) => [message.value.eventId, message]))
      for (const event of stored) {
        const message = byId.get(event.eventId)!
        expect(message.key).toBe(event.streamId)
        expect(message.value).toEqual({
          eventId: event.eventId,
          streamId: event.streamId,
          streamType: "order",
          version: event.version,
          type: event.type,
          schemaVersion: event.schemaVersion,
          data: event.data,
          metadata: event.metadata,
          recordedAt: event.recordedAt.toISOString(),
          globalPosition: event.globalPosition
        })
        expect(message.headers).toEqual({
          "event-type": event.type,
          "event-id": event.eventId,
          "correlation-id": event.metadata.correlationId,
          "schema-version": String(event.schemaVersion),
          "envelope-version": "1",
          // The trace of the command that appended it, as its metadata holds it.
          traceparent: event.metadata.traceparent
        })
        expect(event.metadata.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
      }

      const notificationOf: Record<string, string> = {
        OrderConfirmed: "confirmed",
        PaymentRequested: "payment-pending",
        OrderPaid: "paid",
        OrderShipped: "shipped",
        OrderDelivered: "delivered"
      }
      const notified = stored.filter((event) => event.type in notificationOf)
      const tasks = yield* readQueue(names, (messages) => messages.length >= notified.length)
      expect(tasks.length).toBe(notified.length)
      const tasksById = new Map(tasks.map((task) => [task.properties.messageId, task]))
      for (const event of notified) {
        const task = tasksById.get(event.eventId)!
        const name = notificationOf[event.type]
        expect(task.routingKey).toBe(`order.${name}`)
        expect(task.properties).toMatchObject({
          deliveryMode: 2,
          contentType: "application/json",
          correlationId: event.metadata.correlationId,
          type: `order.${name}`,
          headers: expect.objectContaining({ traceparent: event.metadata.traceparent })
        })
        expect(task.body).toMatchObject({
          taskVersion: 1,
          eventId: event.eventId,
          streamId: event.streamId,
          version: event.version,
          notification: name,
          customerId: expect.stringMatching(/^[0-9a-f-]{36}$/)
        })
        if (name === "shipped") expect(task.body.details).toEqual({ carrier: "DHL", trackingNumber: "JD0146" })
      }

      // Delivered: both cursors passed every row.
      const outbox = yield* Outbox.OutboxStore
      const backlog = yield* outbox.backlog
      expect(backlog).toEqual({ events: { pending: 0, oldestAgeSeconds: 0 }, notifications: { pending: 0, oldestAgeSeconds: 0 } })
    }))

  it.effect("a consumer group that starts later replays every event ever appended, in version order per key", () =>
    Effect.gen(function*() {
      const { names } = yield* TestMessaging
      yield* runOrderLives(10)
      const stored = yield* allEvents
      const replayed = yield* readTopic(names.eventsTopic("order"), (messages) => messages.length >= stored.length)
      expect(new Set(replayed.map((message) => message.value.eventId))).toEqual(new Set(stored.map((event) => event.eventId)))
      const expected = new Map<string, Array<number>>()
      for (const event of stored) expected.set(event.streamId, [...(expected.get(event.streamId) ?? []), event.version])
      expect(versionsByKey(replayed)).toEqual(expected)
    }))

  it.effect("events too large for one broker request together still go out, all of them, in order", () =>
    Effect.gen(function*() {
      const { names } = yield* TestMessaging
      const store = yield* EventStore
      const streamId = randomUUID()
      // 40 events of 50 KB: 2 MB in one relay batch, twice the broker's default request limit.
      const events = Array.from({ length: 40 }, (_, i) => ({
        eventId: randomUUID(),
        type: "Noted",
        schemaVersion: 1,
        data: { n: i + 1, text: "x".repeat(50_000) },
        metadata: { correlationId: randomUUID(), causationId: null, userId: null }
      }))
      yield* store.append({ streamId, streamType: "order", expectedVersion: 0, events })
      const received = yield* readTopic(names.eventsTopic("order"), (messages) =>
        messages.filter((message) => message.key === streamId).length >= 40)
      expect(versionsByKey(received).get(streamId)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
    }))
})
