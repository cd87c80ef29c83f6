/** The relay as real processes, traffic for it, and the checks of what reached Kafka. */
import { Effect, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import { expect } from "vitest"
import { startBuiltCli } from "../../bench/lib/processes.js"
import { OrderActors } from "../../src/aggregates.js"
import type { RecordedEvent } from "../../src/eventstore/EventStore.js"
import * as Outbox from "../../src/outbox/OutboxStore.js"
import { type MessagingEnvironment, orderLifeAfterPlacing, readTopic, versionsByKey } from "./messaging.js"
import { options, placeOrder } from "./orders.js"

export const relayProcess = (env: MessagingEnvironment, extra: Readonly<Record<string, string>> = {}) =>
  startBuiltCli(["relay"], {
    DATABASE_URL: env.databaseUrl,
    MESSAGING_PREFIX: env.prefix,
    OUTBOX_POLL_INTERVAL: "200 millis",
    ...extra
  })

export const ACTIVE = /outbox relay active/
export const STANDING_BY = /outbox relay standing by/

/** The session pid an "active" log line names. */
export const sessionPidOf = (activeLine: string) => Number(/sessionPid=(\d+)/.exec(activeLine)![1])

/** `count` orders taken through their whole lives, `concurrency` at a time: six events each. */
export const orderLives = (count: number, concurrency: number) =>
  Effect.gen(function*() {
    const orders = yield* OrderActors
    yield* Effect.forEach(Array.from({ length: count }, () => randomUUID()), (id) =>
      Effect.gen(function*() {
        const placed = yield* orders.execute(id, placeOrder(), options())
        for (const command of orderLifeAfterPlacing(placed.state.totalCents)) yield* orders.execute(id, command, options())
      }), { concurrency, discard: true })
  })

/** Waits until every outbox row is behind its destination's cursor. */
export const drained = Effect.flatMap(Outbox.OutboxStore, (outbox) =>
  outbox.backlog.pipe(
    Effect.filterOrFail((backlog) => backlog.events.pending === 0 && backlog.notifications.pending === 0, () => new Error("outbox not drained")),
    Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 600 })
  ))

/** Kafka holds every stored event exactly once, each key's in version order: every copy counted, none dropped. */
export const expectEveryEventInOrder = (env: MessagingEnvironment, stored: ReadonlyArray<RecordedEvent>) =>
  Effect.gen(function*() {
    const ids = new Set(stored.map((event) => event.eventId))
    const received = yield* readTopic(env.names.eventsTopic("order"), (messages) => {
      const seen = new Set(messages.map((message) => message.value.eventId))
      return [...ids].every((id) => seen.has(id))
    })
    const expected = new Map<string, Array<number>>()
    for (const event of stored) expected.set(event.streamId, [...(expected.get(event.streamId) ?? []), event.version])
    expect(versionsByKey(received)).toEqual(expected)
    return received
  })
