/**
 * Nothing blocks a destination forever: a row the broker will never accept and a message the
 * projector cannot read are parked in the quarantine, with the reason, and their streams move on.
 * Before, the relay retried such a row without end (every event after it waited), and the projector
 * dropped what it could not decode without a trace.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer, Option, Schedule } from "effect"
import { Kafka, logLevel } from "kafkajs"
import { randomUUID } from "node:crypto"
import { OrderActors } from "../../src/aggregates.js"
import { ProjectorLive, RelayLive, RuntimeLive } from "../../src/app.js"
import { EventStore } from "../../src/eventstore/EventStore.js"
import { toKafkaRecord } from "../../src/messaging/contracts.js"
import * as Outbox from "../../src/outbox/OutboxStore.js"
import * as OrderSummaries from "../../src/projections/OrderSummaries.js"
import * as QuarantineStore from "../../src/quarantine/QuarantineStore.js"
import { startBuiltCli } from "../../bench/lib/processes.js"
import { newEvent } from "../support/events.js"
import { OrderConfirmed } from "../../src/domain/order/events.js"
import { orderAggregate, OrderCommand } from "../../src/domain/order/index.js"
import { environmentConfig, messagingEnvironment, readQueue, readTopic, settings, TestMessaging } from "../support/messaging.js"
import { at, options, placeOrder } from "../support/orders.js"

const Environment = Layer.unwrapEffect(
  Effect.map(TestMessaging, (env) =>
    Layer.mergeAll(RelayLive, ProjectorLive, Outbox.layer, QuarantineStore.layer, OrderSummaries.layer).pipe(
      Layer.provideMerge(RuntimeLive),
      Layer.provide(environmentConfig(env))
    ))
).pipe(Layer.provideMerge(messagingEnvironment))

/** The waiting entries, once there are `count` of them. */
const parked = (count: number) =>
  Effect.flatMap(QuarantineStore.QuarantineStore, (quarantine) => quarantine.list()).pipe(
    Effect.filterOrFail((entries) => entries.length >= count, () => new Error(`fewer than ${count} entries parked yet`)),
    Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 300 })
  )

layer(Environment, { excludeTestServices: true, timeout: "120 seconds" })("quarantine", (it) => {
  it.effect("an event Kafka will never take is parked, and every event after it goes out; a retry puts it back in line", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const store = yield* EventStore
      const orders = yield* OrderActors
      const before = yield* orders.execute(randomUUID(), placeOrder(), options())
      // Two megabytes: more than the broker takes in one message, whatever the batch around it.
      const huge = randomUUID()
      yield* store.append({
        streamId: huge,
        streamType: "order",
        expectedVersion: 0,
        events: [{ ...newEvent(), data: { blob: "x".repeat(2_000_000) } }]
      })
      const after = yield* orders.execute(randomUUID(), placeOrder(), options())

      const received = yield* readTopic(env.names.eventsTopic("order"), (messages) =>
        [before.streamId, after.streamId].every((id) => messages.some((message) => message.key === id)))
      expect(received.some((message) => message.key === huge)).toBe(false)
      const [entry] = yield* parked(1)
      expect(entry).toMatchObject({ source: "outbox:events", retriedAt: null, reason: expect.stringMatching(/MESSAGE_TOO_LARGE/) })
      const [stored] = yield* store.readStream(huge)
      expect(entry!.globalPosition).toBe(stored!.globalPosition)

      // Retried before its cause is fixed, it goes back in line and is parked again, once.
      const quarantine = yield* QuarantineStore.QuarantineStore
      yield* quarantine.markRetried(entry!.id)
      yield* Effect.flatMap(Outbox.OutboxStore, (outbox) => outbox.requeue("events", entry!.globalPosition!, null))
      const again = yield* parked(1)
      expect(again).toEqual([expect.objectContaining({ id: entry!.id, retriedAt: null })])
    }))

  it.effect("a notification no queue will ever take is parked, and the notifications after it go out", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const store = yield* EventStore
      const orders = yield* OrderActors
      // A confirmation told under a name with a dot: its routing key matches no binding (order.*), now
      // or after any redeclaration.
      const odd = (yield* orders.execute(randomUUID(), placeOrder(), options())).streamId
      yield* store.append({
        streamId: odd,
        streamType: "order",
        expectedVersion: 1,
        events: [{
          ...newEvent(),
          ...orderAggregate.events.encode(OrderConfirmed.make({ confirmedAt: at })),
          notification: { name: "odd.name", customerId: randomUUID(), details: {} }
        }]
      })
      const placed = yield* orders.execute(randomUUID(), placeOrder(), options())
      const confirmed = yield* orders.execute(placed.streamId, OrderCommand.Confirm({ at }), options())
      yield* readQueue(env.names, (messages) => messages.some((message) => message.properties.messageId === confirmed.streamId) ||
        messages.some((message) => message.body.streamId === placed.streamId))
      const entries = yield* parked(1)
      const [, stored] = yield* store.readStream(odd)
      expect(entries.find((entry) => entry.source === "outbox:notifications")).toMatchObject({
        globalPosition: stored!.globalPosition,
        reason: expect.stringMatching(/no queue takes/),
        received: expect.stringContaining("odd.name")
      })
    }))

  it.scoped("a message the projector cannot read is parked with what arrived, and the projection goes on", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const kafka = new Kafka({ clientId: "tests", brokers: [...settings.kafka.brokers], logLevel: logLevel.NOTHING })
      const producer = kafka.producer()
      yield* Effect.acquireRelease(Effect.promise(() => producer.connect()), () => Effect.promise(() => producer.disconnect()))
      yield* Effect.promise(() =>
        producer.send({ topic: env.names.eventsTopic("order"), messages: [{ key: "someone", value: "{\"not\":\"an envelope\"}" }] }))
      const orders = yield* OrderActors
      const placed = yield* orders.execute(randomUUID(), placeOrder(), options())

      const summaries = yield* OrderSummaries.OrderSummaries
      yield* summaries.find(placed.streamId).pipe(
        Effect.filterOrFail((found) => found._tag === "Some", () => new Error("not projected yet")),
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 300 })
      )
      const entries = yield* parked(1)
      expect(entries.find((entry) => entry.source === "projector:order_summaries")).toMatchObject({
        received: "{\"not\":\"an envelope\"}",
        reason: expect.stringMatching(/offset \d+: not an event envelope/)
      })
    }))

  it.scoped("`quarantine retry` applies a parked message through the projection its source names, and says when none is registered", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const sql = yield* SqlClient.SqlClient
      const quarantine = yield* QuarantineStore.QuarantineStore
      const summaries = yield* OrderSummaries.OrderSummaries
      const placed = yield* (yield* OrderActors).execute(randomUUID(), placeOrder(), options())
      yield* summaries.find(placed.streamId).pipe(
        Effect.filterOrFail((found) => found._tag === "Some", () => new Error("not projected yet")),
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 300 })
      )
      // As if the projector had parked the order's first event: its row is not there.
      yield* sql`DELETE FROM order_summaries WHERE order_id = ${placed.streamId}`
      const [stored] = yield* (yield* EventStore).readStream(placed.streamId)
      const received = toKafkaRecord(env.names, stored!).value
      const marker = randomUUID()
      yield* quarantine.park({ source: QuarantineStore.projectorSource("order_summaries"), reason: `${marker} registered`, received })
      yield* quarantine.park({ source: QuarantineStore.projectorSource("retired_model"), reason: `${marker} retired`, received })
      const waiting = (yield* quarantine.list()).filter((entry) => entry.reason.startsWith(marker))
      const registered = waiting.find((entry) => entry.source === "projector:order_summaries")!
      const retired = waiting.find((entry) => entry.source === "projector:retired_model")!

      const run = yield* startBuiltCli(["quarantine", "retry", String(registered.id), String(retired.id)], {
        DATABASE_URL: env.databaseUrl,
        MESSAGING_PREFIX: env.prefix
      })
      yield* run.exited
      const output = run.lines.join("\n")
      expect(output).toContain(`${registered.id}: put back`)
      expect(output).toMatch(new RegExp(`entry ${retired.id}: .*projector:retired_model.*no registered projection`))
      expect(Option.map(yield* summaries.find(placed.streamId), (summary) => summary.lastVersion)).toEqual(Option.some(1))
      const after = (yield* quarantine.list()).filter((entry) => entry.reason.startsWith(marker))
      expect(after.map((entry) => entry.id)).toEqual([retired.id])
    }))
})
