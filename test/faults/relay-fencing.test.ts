/**
 * A deposed relay still publishing. The active relay reaches Kafka through toxiproxy, slowed so
 * that its batches are in flight for a long time; its lock session is terminated in the middle of
 * one. A standby takes over and publishes from the same cursor while the deposed relay's batch is
 * still on its way. Before the fence, its stale copies landed after the newer events of the same
 * keys; the consumer here records every copy, in the order Kafka holds them.
 */
import { SqlClient } from "@effect/sql"
import { expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import * as Outbox from "../../src/outbox/OutboxStore.js"
import { toxiproxy } from "../support/faults/toxiproxy.js"
import { allEvents, appOnEnvironment, readTopic, TestMessaging } from "../support/messaging.js"
import {
  ACTIVE,
  drained,
  expectEveryEventInOrder,
  orderLives,
  relayProcess,
  sessionPidOf,
  STANDING_BY
} from "../support/relays.js"

/** Where the broker's FAULTS listener says it is (scripts/kafka/server.properties): the proxy listens there. */
const KAFKA_THROUGH_PROXY = 19_094

const Environment = Outbox.layer.pipe(Layer.provideMerge(appOnEnvironment({ relay: false })))

it.scopedLive("the leader's session ends while its slowed batch is in flight: every copy in Kafka in order, none missing", () =>
  Effect.gen(function*() {
    const context = yield* Layer.build(Environment)
    yield* Effect.gen(function*() {
      const env = yield* TestMessaging
      const sql = yield* SqlClient.SqlClient
      const kafka = yield* Effect.flatMap(toxiproxy, (server) => server.proxy("kafka-faults", "127.0.0.1:9094", KAFKA_THROUGH_PROXY))

      const slowed = yield* relayProcess(env, { KAFKA_BROKERS: `127.0.0.1:${KAFKA_THROUGH_PROXY}`, OUTBOX_BATCH_SIZE: "25" })
      const sessionPid = sessionPidOf(yield* slowed.waitForLine(ACTIVE, 30_000))
      const standby = yield* relayProcess(env, { OUTBOX_BATCH_SIZE: "25" })
      yield* standby.waitForLine(STANDING_BY, 30_000)

      const traffic = yield* Effect.fork(orderLives(40, 4))
      yield* readTopic(env.names.eventsTopic("order"), (messages) => messages.length >= 25)
      // Each of its requests now takes a second and a half: a batch is on its way for seconds.
      yield* kafka.delay("1500 millis")
      yield* Effect.sleep("2 seconds")
      yield* sql`SELECT pg_terminate_backend(${sessionPid})`
      yield* standby.waitForLine(ACTIVE, 10_000)

      yield* Fiber.join(traffic)
      yield* drained
      const stored = yield* allEvents
      expect(stored.length).toBe(40 * 7)
      yield* expectEveryEventInOrder(env, stored)
      // The deposed relay was refused by the broker, and said so.
      yield* slowed.waitForLine(/outbox relay stepped down/, 15_000)
    }).pipe(Effect.provide(context))
  }), { timeout: 180_000 })
