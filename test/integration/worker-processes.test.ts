/**
 * Notification workers as real processes, against a push provider that does NOT honour
 * `Idempotency-Key` (every successful POST is a push the customer sees), so that each repeat is
 * counted: killed before the ack, killed between push and record (with and without its message),
 * a batch where one task's bookkeeping fails, two side by side, one stopped with pushes in flight.
 */
import { expect, layer } from "@effect/vitest"
import amqp from "amqplib"
import { Effect, Redacted } from "effect"
import { declareWorkerTopology } from "../../src/notifications/topology.js"
import type { Topology } from "../../src/messaging/contracts.js"
import { settings, TestMessaging } from "../support/messaging.js"
import {
  deliveredFor,
  eventually,
  newTask,
  nonDeduplicatingEnvironment,
  publishTasks,
  purgeQueue,
  queueDepth,
  requestsFor,
  TestPushGateway,
  workerProcess
} from "../support/notifications.js"
import { opsMetric } from "../support/ops.js"

/** A migrated database, a prefix and a push provider of the test's own; the workers are processes. */
const Environment = nonDeduplicatingEnvironment

/** The queues a worker declares, declared before any worker runs (so tasks can wait for one). */
const declareQueues = (names: Topology) =>
  Effect.promise(async () => {
    const connection = await amqp.connect(Redacted.value(settings.amqp.url))
    try {
      await declareWorkerTopology(connection, names, ["order"], [])
    } finally {
      await connection.close()
    }
  })

/**
 * A push lease of 2 × 1 s + 5 s = 7 s (see WorkerLive), and a sweeper that looks every 200 ms and
 * publishes a delivery again 1 s after it was due.
 */
const QUICK = { PUSH_TIMEOUT: "1 second", WORKER_SWEEP_INTERVAL: "200 millis", WORKER_SWEEP_GRACE: "1 second" }

layer(Environment, { excludeTestServices: true })("notification workers as processes", (it) => {
  it.scoped("a worker killed after recording its push, before its ack: the task comes back and is not pushed again", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const push = yield* TestPushGateway
      const crashing = yield* workerProcess(env, push, { WORKER_CRASH_BEFORE_ACK: "true" })
      const task = newTask()
      yield* publishTasks(env.names, [task])
      yield* eventually("the push was sent", deliveredFor(push, task.eventId), (received) => received.length === 1)
      expect(yield* crashing.process.exited).toMatchObject({ signal: "SIGKILL" })

      const next = yield* workerProcess(env, push)
      yield* eventually("the redelivered task was settled", queueDepth(env.names.pushQueue), (depth) => depth === 0)
      yield* Effect.sleep("1 second")
      expect(yield* requestsFor(push, task.eventId)).toHaveLength(1)
      expect(yield* opsMetric(next.port, "notifications_duplicates_total")).toBe(1)
    }))

  it.scoped("a worker killed between push and record: pushed a second time, with the same key, and counted", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const push = yield* TestPushGateway
      const crashing = yield* workerProcess(env, push, { ...QUICK, WORKER_CRASH_AFTER_PUSH: "true" })
      const task = newTask()
      yield* publishTasks(env.names, [task])
      yield* eventually("the first push was sent", requestsFor(push, task.eventId), (received) => received.length === 1)
      expect(yield* crashing.process.exited).toMatchObject({ signal: "SIGKILL" })

      // The task comes back at once, but its claim holds other workers off until its lease ran out.
      const next = yield* workerProcess(env, push, QUICK)
      const pushes = yield* eventually(
        "the task was pushed again",
        deliveredFor(push, task.eventId),
        (received) => received.length === 2
      )
      expect(pushes[1]!.at - pushes[0]!.at).toBeGreaterThanOrEqual(6_000)
      expect(pushes.map((received) => received.idempotencyKey)).toEqual([task.eventId, task.eventId])
      expect(pushes[1]!.body).toEqual(pushes[0]!.body)
      yield* eventually("the queue is empty", queueDepth(env.names.pushQueue), (depth) => depth === 0)
      expect(yield* opsMetric(next.port, "notifications_repushed_total")).toBe(1)
      expect(yield* opsMetric(next.port, "notifications_sent_total")).toBe(1)
      yield* Effect.sleep("2 seconds")
      expect(yield* requestsFor(push, task.eventId)).toHaveLength(2)
    }), 60_000)

  it.scoped("a worker killed between push and record, its message lost too: the sweeper re-drives the task", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const push = yield* TestPushGateway
      const crashing = yield* workerProcess(env, push, { ...QUICK, WORKER_CRASH_AFTER_PUSH: "true" })
      const task = newTask()
      yield* publishTasks(env.names, [task])
      yield* eventually("the first push was sent", requestsFor(push, task.eventId), (received) => received.length === 1)
      expect(yield* crashing.process.exited).toMatchObject({ signal: "SIGKILL" })
      yield* eventually("the unacked task is back in the queue", queueDepth(env.names.pushQueue), (depth) => depth === 1)
      // The broker loses it: only the delivery record says it is pending.
      expect(yield* purgeQueue(env.names.pushQueue)).toBe(1)

      const next = yield* workerProcess(env, push, QUICK)
      yield* eventually("the task was pushed again", deliveredFor(push, task.eventId), (received) => received.length === 2)
      expect(yield* opsMetric(next.port, "notifications_swept_total")).toBeGreaterThanOrEqual(1)
      expect(yield* opsMetric(next.port, "notifications_repushed_total")).toBe(1)
      yield* Effect.sleep("2 seconds")
      expect(yield* requestsFor(push, task.eventId)).toHaveLength(2)
    }), 60_000)

  it.scoped("a batch where one task's bookkeeping fails: that task alone comes back, and every other is pushed once", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const push = yield* TestPushGateway
      yield* declareQueues(env.names)
      // A queue of another kind under the name of the 2 s delay queue: declaring it fails, and with
      // it putting the task that must wait 2 s into it.
      yield* Effect.promise(async () => {
        const connection = await amqp.connect(Redacted.value(settings.amqp.url))
        try {
          const channel = await connection.createChannel()
          await channel.assertQueue(env.names.delayQueue(2000), { durable: true })
        } finally {
          await connection.close()
        }
      })
      const siblings = Array.from({ length: 9 }, () => newTask())
      const failing = newTask()
      push.answerWith((received, attempt) =>
        received.idempotencyKey === failing.eventId && attempt === 1 ? { status: 429, headers: { "retry-after": "2" } } : { status: 200 })
      // Published before the worker starts, the last ones arrive together and share a batch.
      yield* publishTasks(env.names, [...siblings, failing])
      const publishedAt = Date.now()
      const worker = yield* workerProcess(env, push, QUICK)

      const ids = new Set([...siblings, failing].map((task) => task.eventId))
      yield* eventually(
        "every task was pushed",
        Effect.sync(() => new Set(push.gateway.delivered.map((received) => received.idempotencyKey).filter((id) => ids.has(id)))),
        (pushed) => pushed.size === ids.size
      )
      // Past the 7 s lease: a sibling whose push had not been recorded would have been pushed again by now.
      yield* Effect.sleep(Math.max(1000, publishedAt + 9_000 - Date.now()))
      for (const task of siblings) expect(yield* requestsFor(push, task.eventId)).toHaveLength(1)
      expect(yield* requestsFor(push, failing.eventId)).toHaveLength(2)
      expect(yield* deliveredFor(push, failing.eventId)).toHaveLength(1)
      expect(yield* opsMetric(worker.port, "notifications_requeued_total")).toBeGreaterThanOrEqual(1)
      expect(yield* opsMetric(worker.port, "notifications_sent_total")).toBe(10)
      expect(yield* opsMetric(worker.port, "notifications_repushed_total")).toBe(0)
      expect(yield* queueDepth(env.names.pushQueue)).toBe(0)
      push.answerWith(() => ({ status: 200 }))
    }), 60_000)

  it.scoped("two workers on one queue: every task handled once, by one or the other", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const push = yield* TestPushGateway
      const workers = [yield* workerProcess(env, push), yield* workerProcess(env, push)]
      const tasks = Array.from({ length: 300 }, () => newTask())
      yield* publishTasks(env.names, tasks)
      yield* eventually(
        "every task was pushed",
        Effect.sync(() => new Set(push.gateway.delivered.map((received) => received.idempotencyKey))),
        (keys) => tasks.every((task) => keys.has(task.eventId))
      )
      yield* eventually("the queue is empty", queueDepth(env.names.pushQueue), (depth) => depth === 0)
      for (const task of tasks) expect(yield* requestsFor(push, task.eventId)).toHaveLength(1)
      const counts = yield* Effect.forEach(workers, (worker) => opsMetric(worker.port, "notifications_sent_total"))
      expect(counts[0]! + counts[1]!).toBe(tasks.length)
      expect(Math.min(...counts)).toBeGreaterThan(0)
    }))

  it.scoped("a worker told to stop finishes the pushes in flight, acks them, then exits", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const push = yield* TestPushGateway
      push.answerWith(() => ({ status: 200, delayMs: 1500 }))
      const worker = yield* workerProcess(env, push)
      const tasks = Array.from({ length: 5 }, () => newTask())
      yield* publishTasks(env.names, tasks)
      const ids = new Set(tasks.map((task) => task.eventId))
      yield* eventually(
        "the pushes are in flight",
        Effect.sync(() => push.gateway.requests.filter((received) => ids.has(received.idempotencyKey)).length),
        (n) => n === 5
      )
      yield* worker.process.kill("SIGTERM")
      expect(yield* worker.process.exited).toMatchObject({ code: 0 })
      for (const task of tasks) expect(yield* deliveredFor(push, task.eventId)).toHaveLength(1)
      // Acked before the channel closed: nothing comes back to the queue.
      expect(yield* queueDepth(env.names.pushQueue)).toBe(0)
      push.answerWith(() => ({ status: 200 }))
    }))
})
