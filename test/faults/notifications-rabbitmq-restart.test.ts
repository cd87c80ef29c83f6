/**
 * RabbitMQ restarted, for real, while push-notification tasks wait in the worker's delay queues:
 * some whose wait ends while the broker is down (they are dead-lettered back to the push queue the
 * moment it recovers, when the push queue may not be ready yet), some whose wait ends after. Every
 * task must still be pushed, once. Classic delay queues dead-letter at most once and could drop a
 * task at that moment; the quorum delay queues keep it until the push queue confirmed it, and the
 * sweeper re-publishes from the delivery records whatever the broker still loses.
 *
 * Runs in the `faults` project, alone, since it takes RabbitMQ away from everyone.
 */
import { expect, layer } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { TestMessaging } from "../support/messaging.js"
import {
  deliveredFor,
  eventually,
  newTask,
  nonDeduplicatingEnvironment,
  publishTasks,
  queueDepth,
  requestsFor,
  TestPushGateway,
  workerProcess
} from "../support/notifications.js"
import { opsMetric } from "../support/ops.js"
import { service } from "../support/faults/services.js"


const rabbitmq = (action: "stop" | "start" | "restart") => service(action, "rabbitmq")

const Environment = nonDeduplicatingEnvironment

layer(Environment, { excludeTestServices: true })("RabbitMQ restarted under the notification worker", (it) => {
  it.scoped("tasks waiting in delay queues while RabbitMQ restarts: every task is pushed, once", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const push = yield* TestPushGateway
      // A restart takes RabbitMQ away for some 10 to 20 s. The first retry of a task waits 5 s in the
      // 5000 ms queue, and its time is up while the broker is down; a task the provider asks to wait
      // 45 s (Retry-After, a minimum) waits in the 45000 ms queue, and its time is up once it is back.
      const worker = yield* workerProcess(env, push, { WORKER_RETRY_BASE_DELAY: "5 seconds" })
      const shortWait = Array.from({ length: 20 }, () => newTask())
      const longWait = Array.from({ length: 20 }, () => newTask())
      const short = new Set(shortWait.map((task) => task.eventId))
      push.answerWith((received, attempt) =>
        attempt > 1
          ? { status: 200 }
          : short.has(received.idempotencyKey)
          ? { status: 503 }
          : { status: 429, headers: { "retry-after": "45" } })
      yield* publishTasks(env.names, [...shortWait, ...longWait])
      yield* eventually("the short waits are in their delay queue", queueDepth(env.names.delayQueue(5000)), (n) => n === 20)
      yield* eventually("the long waits are in theirs", queueDepth(env.names.delayQueue(45_000)), (n) => n === 20)

      yield* rabbitmq("restart")

      const all = [...shortWait, ...longWait]
      yield* eventually(
        "every task was pushed",
        Effect.forEach(all, (task) => deliveredFor(push, task.eventId)),
        (pushes) => pushes.every((received) => received.length >= 1),
        Duration.seconds(150)
      )
      yield* eventually("the push queue is empty", queueDepth(env.names.pushQueue), (n) => n === 0)
      yield* Effect.sleep("2 seconds")
      for (const task of all) {
        expect(yield* deliveredFor(push, task.eventId)).toHaveLength(1)
        // The refused first attempt, and the push.
        expect(yield* requestsFor(push, task.eventId)).toHaveLength(2)
      }
      expect(yield* opsMetric(worker.port, "notifications_sent_total")).toBe(all.length)
      expect(yield* opsMetric(worker.port, "notifications_repushed_total")).toBe(0)
    }).pipe(Effect.ensuring(rabbitmq("start"))), 240_000)
})
