/**
 * The delivery records the sweeper and the claims rely on, on a database of the test's own (no
 * worker runs on it): several sweepers never take the same delivery, a claim that ran out is taken
 * over and says so, and the old claim can then neither renew nor release it.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { DeliveryStore, type Lease, layer as deliveryStoreLayer } from "../../src/notifications/DeliveryStore.js"
import { runMigrationsOn, scratchDatabase, sqlLayer } from "../support/databases.js"
import { newTask } from "../support/notifications.js"

const Environment = Layer.unwrapScoped(
  Effect.gen(function*() {
    const database = yield* scratchDatabase
    yield* runMigrationsOn(database.url)
    return deliveryStoreLayer.pipe(Layer.provideMerge(sqlLayer(database.url)))
  })
)

/** A claim that has run out, and whose task the sweeper may take, as soon as it is made. */
const runOut: Lease = { duration: Duration.zero, sweepAfter: Duration.zero }
const long: Lease = { duration: Duration.minutes(1), sweepAfter: Duration.hours(1) }

const claim = (tasks: ReadonlyArray<ReturnType<typeof newTask>>, lease: Lease) =>
  Effect.flatMap(DeliveryStore, (store) => store.claimMany(tasks.map((task) => ({ task, routingKey: `order.${task.notification}` })), lease))

layer(Environment, { excludeTestServices: true })("delivery records", (it) => {
  it.effect("sweepers side by side take disjoint deliveries, only those past their due time, a bounded batch at a time", () =>
    Effect.gen(function*() {
      const store = yield* DeliveryStore
      const due = Array.from({ length: 30 }, () => newTask())
      const notYet = Array.from({ length: 5 }, () => newTask())
      const sent = Array.from({ length: 3 }, () => newTask())
      yield* claim(due, runOut)
      yield* claim(notYet, long)
      yield* claim(sent, runOut)
      yield* Effect.forEach(sent, (task) => store.markSent(task.eventId))
      yield* Effect.sleep("20 millis")

      const [first, second] = yield* Effect.all(
        [store.takeStuck(20, Duration.minutes(1)), store.takeStuck(20, Duration.minutes(1))],
        { concurrency: 2 }
      )
      expect(first.length + second.length).toBe(30)
      expect(first.length).toBeLessThanOrEqual(20)
      expect(second.length).toBeLessThanOrEqual(20)
      const taken = [...first, ...second].map((delivery) => delivery.eventId)
      expect(new Set(taken)).toEqual(new Set(due.map((task) => task.eventId)))
      // Taken once: its due time moved on.
      expect(yield* store.takeStuck(100, Duration.minutes(1))).toEqual([])

      const one = [...first, ...second].find((delivery) => delivery.eventId === due[0]!.eventId)!
      expect(one).toMatchObject({ routingKey: "order.shipped", status: "sending" })
      expect(JSON.parse(one.task)).toEqual(due[0])
    }))

  it.effect("settled deliveries are purged after the retention; pending ones never are", () =>
    Effect.gen(function*() {
      const store = yield* DeliveryStore
      const sql = yield* SqlClient.SqlClient
      const [old, recent, pending] = [newTask(), newTask(), newTask()]
      yield* claim([old, recent, pending], long)
      yield* store.markSent(old.eventId)
      yield* store.markSent(recent.eventId)
      yield* sql`UPDATE notification_deliveries SET updated_at = now() - interval '8 days' WHERE event_id IN (${old.eventId}::uuid, ${pending.eventId}::uuid)`
      expect(yield* store.purgeSettled(Duration.days(7), 100)).toBe(1)
      const left = yield* sql<{ event_id: string }>`SELECT event_id FROM notification_deliveries
        WHERE event_id IN (${old.eventId}::uuid, ${recent.eventId}::uuid, ${pending.eventId}::uuid)`
      expect(new Set(left.map((row) => row.event_id))).toEqual(new Set([recent.eventId, pending.eventId]))
    }))

  it.effect("a claim that ran out is taken over and says so; the old claim can neither renew nor release it", () =>
    Effect.gen(function*() {
      const store = yield* DeliveryStore
      const task = newTask()
      expect((yield* claim([task], runOut)).get(task.eventId)).toEqual({ _tag: "Claimed", attempt: 1, tookOver: false })
      yield* Effect.sleep("20 millis")
      expect((yield* claim([task], long)).get(task.eventId)).toEqual({ _tag: "Claimed", attempt: 2, tookOver: true })

      expect(yield* store.renewClaim(task.eventId, 1, long)).toBe(false)
      expect(yield* store.markRetrying(task.eventId, 1, "late", Duration.seconds(1))).toBe(false)
      expect(yield* store.renewClaim(task.eventId, 2, long)).toBe(true)
      expect((yield* claim([task], long)).get(task.eventId)?._tag).toBe("Busy")

      // A failed attempt released on time is no takeover.
      expect(yield* store.markRetrying(task.eventId, 2, "503", Duration.seconds(1))).toBe(true)
      expect((yield* claim([task], long)).get(task.eventId)).toEqual({ _tag: "Claimed", attempt: 3, tookOver: false })
      yield* store.markSent(task.eventId)
      expect((yield* claim([task], long)).get(task.eventId)).toEqual({ _tag: "Settled", status: "sent" })
      expect(yield* store.takeStuck(100, Duration.minutes(1))).not.toContainEqual(expect.objectContaining({ eventId: task.eventId }))
    }))
})
