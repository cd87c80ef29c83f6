/**
 * The relay as real processes: killed between publish and mark, and two on one database with the
 * active one killed, or cut off from PostgreSQL.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import * as Outbox from "../../src/outbox/OutboxStore.js"
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

const Environment = Outbox.layer.pipe(Layer.provideMerge(appOnEnvironment({ relay: false })))

layer(Environment, { excludeTestServices: true, timeout: "120 seconds" })("relay killed between publish and mark", (it) => {
  it.scoped("does not send that batch again when it restarts: Kafka's committed position says it went out", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const outbox = yield* Outbox.OutboxStore
      yield* orderLives(30, 8)
      const stored = yield* allEvents
      expect(stored.length).toBe(30 * 7)

      const crashing = yield* relayProcess(env, { OUTBOX_CRASH_AFTER_PUBLISH: "events", OUTBOX_BATCH_SIZE: "50" })
      expect(yield* crashing.exited).toEqual({ code: null, signal: "SIGKILL" })
      // It published a batch and died before marking it.
      expect(yield* outbox.cursorOf("events")).toEqual({ transactionId: "0", globalPosition: 0 })

      yield* relayProcess(env, { OUTBOX_BATCH_SIZE: "50" })
      yield* drained
      const received = yield* expectEveryEventInOrder(env, stored)
      // The first batch went out once, before the crash, and was committed with the relay's position.
      expect(received.length).toBe(stored.length)
    }))
})

layer(Environment, { excludeTestServices: true, timeout: "120 seconds" })("two relays on one database", (it) => {
  it.scoped("one publishes, the other waits and takes over within 5 s when the first is killed", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const first = yield* relayProcess(env)
      yield* first.waitForLine(ACTIVE, 30_000)
      const second = yield* relayProcess(env)
      yield* second.waitForLine(STANDING_BY, 30_000)

      const traffic = yield* Effect.fork(orderLives(60, 4))
      // Let the first relay publish part of the stream, then kill it mid-flight.
      yield* readTopic(env.names.eventsTopic("order"), (messages) => messages.length >= 40)
      yield* first.kill("SIGKILL")
      yield* second.waitForLine(ACTIVE, 5_000)

      yield* Fiber.join(traffic)
      yield* drained
      yield* expectEveryEventInOrder(env, yield* allEvents)
    }))

  it.scoped("the active relay whose database session is cut steps down, and publishing goes on", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const sql = yield* SqlClient.SqlClient
      const relays = [yield* relayProcess(env), yield* relayProcess(env)]
      const activeLine = yield* Effect.raceAll(relays.map((relay) => relay.waitForLine(ACTIVE, 30_000)))
      const sessionPid = sessionPidOf(activeLine)
      const marks = relays.map((relay) => relay.lines.length)

      const traffic = yield* Effect.fork(orderLives(30, 4))
      const cut = relays.find((relay) => relay.lines.includes(activeLine))!
      yield* sql`SELECT pg_terminate_backend(${sessionPid})`
      yield* cut.waitForLine(/outbox relay stepped down/, 5_000)
      // A relay becomes active again (the standby, or the same process on a new session).
      yield* Effect.raceAll(relays.map((relay, i) => relay.waitForLine(ACTIVE, 5_000, marks[i])))

      yield* Fiber.join(traffic)
      yield* drained
      yield* expectEveryEventInOrder(env, yield* allEvents)
    }))
})
