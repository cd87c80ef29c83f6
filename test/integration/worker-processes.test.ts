/** Notification workers as real processes: one killed before its ack, two side by side. */
import { expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { messagingEnvironment, type MessagingEnvironment, TestMessaging } from "../support/messaging.js"
import {
  deliveredFor,
  eventually,
  newTask,
  pushGatewayLayer,
  publishTasks,
  queueDepth,
  requestsFor,
  type TestPush,
  TestPushGateway
} from "../support/notifications.js"
import { startCli } from "../../bench/lib/processes.js"

/** A migrated database, a prefix and a push provider of the test's own; the workers are processes. */
const Environment = Layer.merge(messagingEnvironment, pushGatewayLayer)

const CONSUMING = /worker consuming/
const LISTENING = /Listening on http:\/\/[^:"]+:(\d+)/

/** A worker process on a free port; gives it and the port its /metrics are on, once it consumes. */
const workerProcess = (env: MessagingEnvironment, push: TestPush, extra: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function*() {
    const process = yield* startCli(["worker"], {
      DATABASE_URL: env.databaseUrl,
      MESSAGING_PREFIX: env.prefix,
      PUSH_GATEWAY_URL: push.gateway.url,
      WORKER_PORT: "0",
      WORKER_RETRY_BASE_DELAY: "100 millis",
      ...extra
    })
    const listening = yield* process.waitForLine(LISTENING, 30_000)
    yield* process.waitForLine(CONSUMING, 30_000)
    return { process, port: Number(LISTENING.exec(listening)![1]) }
  })

const sentBy = (port: number) =>
  Effect.promise(async () => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    return Number(/^notifications_sent_total (\d+)$/m.exec(text)?.[1] ?? 0)
  })


layer(Environment, { excludeTestServices: true })("notification workers as processes", (it) => {
  it.scoped("a worker killed after the push, before its ack: the task comes back and is not pushed again", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const push = yield* TestPushGateway
      const crashing = yield* workerProcess(env, push, { WORKER_CRASH_BEFORE_ACK: "true" })
      const task = newTask()
      yield* publishTasks(env.names, [task])
      yield* eventually("the push was sent", deliveredFor(push, task.eventId), (received) => received.length === 1)
      expect(yield* crashing.process.exited).toMatchObject({ signal: "SIGKILL" })

      yield* workerProcess(env, push)
      yield* eventually("the redelivered task was settled", queueDepth(env.names.pushQueue), (depth) => depth === 0)
      yield* Effect.sleep("1 second")
      expect(yield* requestsFor(push, task.eventId)).toHaveLength(1)
    }))

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
      const counts = yield* Effect.forEach(workers, (worker) => sentBy(worker.port))
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
      yield* eventually("the pushes are in flight", Effect.sync(() => push.gateway.requests.length), (n) => n >= 5)
      yield* worker.process.kill("SIGTERM")
      expect(yield* worker.process.exited).toMatchObject({ code: 0 })
      for (const task of tasks) expect(yield* deliveredFor(push, task.eventId)).toHaveLength(1)
      // Acked before the channel closed: nothing comes back to the queue.
      expect(yield* queueDepth(env.names.pushQueue)).toBe(0)
      push.answerWith(() => ({ status: 200 }))
    }))
})
