/**
 * PostgreSQL stopped, for real, for 30 s while the notification worker holds tasks: pushes in
 * flight whose outcome cannot be recorded, retries that come back from their delay queue and cannot
 * be claimed, new tasks that arrive meanwhile. The worker holds them and tries again (no tight
 * redelivery loop that would run them into the push queue's delivery limit), and once the database
 * is back every task is pushed — and, since no worker died, pushed once.
 *
 * Runs in the `faults` project, alone, since it takes PostgreSQL away from everyone.
 */
import { expect, layer } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { listDeadLetters } from "../../src/notifications/deadLetters.js"
import { settings, TestMessaging } from "../support/messaging.js"
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


const postgres = (action: "stop" | "start" | "restart") => service(action, "pg")

const Environment = nonDeduplicatingEnvironment

layer(Environment, { excludeTestServices: true })("PostgreSQL down under the notification worker", (it) => {
  it.scoped("PostgreSQL down for 30 s while the worker holds tasks: every task is pushed, once", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const push = yield* TestPushGateway
      // A push may take 10 s, so its claim lasts 25 s; first retries wait 1 s.
      const worker = yield* workerProcess(env, push, { PUSH_TIMEOUT: "10 seconds", WORKER_RETRY_BASE_DELAY: "1 second" })
      const inFlight = Array.from({ length: 10 }, () => newTask())
      const retrying = Array.from({ length: 10 }, () => newTask())
      const arriving = Array.from({ length: 10 }, () => newTask())
      const slow = new Set(inFlight.map((task) => task.eventId))
      const refusedOnce = new Set(retrying.map((task) => task.eventId))
      // Answered 6 s late: the database is gone by the time these pushes are to be recorded.
      push.answerWith((received, attempt) =>
        slow.has(received.idempotencyKey)
          ? { status: 200, delayMs: 6_000 }
          : refusedOnce.has(received.idempotencyKey) && attempt === 1
          ? { status: 503 }
          : { status: 200 })
      yield* publishTasks(env.names, [...inFlight, ...retrying])
      yield* eventually(
        "every first attempt was made",
        Effect.forEach([...inFlight, ...retrying], (task) => requestsFor(push, task.eventId)),
        (requests) => requests.every((received) => received.length >= 1)
      )

      yield* postgres("stop")
      const stoppedAt = Date.now()
      yield* publishTasks(env.names, arriving)
      yield* Effect.sleep(Duration.millis(Math.max(0, stoppedAt + 30_000 - Date.now())))
      // Nothing waited for the database has been pushed meanwhile.
      for (const task of arriving) expect(yield* requestsFor(push, task.eventId)).toHaveLength(0)
      yield* postgres("start")

      const all = [...inFlight, ...retrying, ...arriving]
      yield* eventually(
        "every task was pushed",
        Effect.forEach(all, (task) => deliveredFor(push, task.eventId)),
        (pushes) => pushes.every((received) => received.length >= 1),
        Duration.seconds(120)
      )
      yield* eventually("the push queue is empty", queueDepth(env.names.pushQueue), (n) => n === 0, Duration.seconds(60))
      yield* Effect.sleep("2 seconds")
      for (const task of all) expect(yield* deliveredFor(push, task.eventId)).toHaveLength(1)
      expect(yield* opsMetric(worker.port, "notifications_sent_total")).toBe(all.length)
      expect(yield* opsMetric(worker.port, "notifications_repushed_total")).toBe(0)
      const ids = new Set(all.map((task) => task.eventId))
      const letters = yield* Effect.orDie(listDeadLetters(settings.amqp.url, env.names, 1000))
      expect(letters.filter((letter) => ids.has(letter.eventId))).toEqual([])
    }).pipe(Effect.ensuring(postgres("start"))), 240_000)
})
