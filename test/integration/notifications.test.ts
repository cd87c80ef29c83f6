import { HttpServer } from "@effect/platform"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer, Metric } from "effect"
import { randomUUID } from "node:crypto"
import { OrderActors } from "../../src/aggregates.js"
import { HttpLive, RuntimeLive } from "../../src/app.js"
import { OrderCommand } from "../../src/domain/order/index.js"
import { listDeadLetters, requeueDeadLetters } from "../../src/notifications/deadLetters.js"
import * as DeliveryStore from "../../src/notifications/DeliveryStore.js"
import { duplicates, requeued, swept } from "../../src/notifications/metrics.js"
import { settings, TestMessaging } from "../support/messaging.js"
import { bearer, token } from "../support/auth.js"
import {
  deleteQueue,
  deliveredFor,
  eventually,
  newTask,
  publishRaw,
  publishTasks,
  purgeQueue,
  queueDepth,
  RelayLive,
  requestsFor,
  TestPushGateway,
  workerEnvironment
} from "../support/notifications.js"

const Environment = workerEnvironment(Layer.mergeAll(HttpLive, RuntimeLive, RelayLive, DeliveryStore.layer))


const deadLettersNow = Effect.flatMap(TestMessaging, (env) => Effect.orDie(listDeadLetters(settings.amqp.url, env.names, 1000)))

layer(Environment, { excludeTestServices: true })("notification worker", (it) => {
  it.effect("the whole path: a command over HTTP reaches the customer as a push", () =>
    Effect.gen(function*() {
      const push = yield* TestPushGateway
      const server = yield* HttpServer.HttpServer
      const base = server.address._tag === "TcpAddress" ? `http://127.0.0.1:${server.address.port}` : ""
      const customerId = randomUUID()
      // The customer orders and pays; someone of staff ships.
      const [customer, staff] = yield* Effect.promise(() =>
        Promise.all([token(customerId, { roles: ["customer"] }), token(`staff-${randomUUID()}`, { roles: ["staff"] })])
      )
      const post = (path: string, as: string, body?: unknown) =>
        Effect.promise(() =>
          fetch(`${base}${path}`, {
            method: "POST",
            headers: { ...bearer(as), ...(body === undefined ? {} : { "content-type": "application/json" }) },
            ...(body === undefined ? {} : { body: JSON.stringify(body) })
          }).then(async (response) => ({ status: response.status, json: await response.json() as any })))
      const placed = yield* post("/orders", customer, { customerId, currency: "EUR", lines: [{ sku: "tea", quantity: 2, unitPriceCents: 450 }] })
      expect(placed.status).toBe(201)
      const orderId = placed.json.orderId
      expect((yield* post(`/orders/${orderId}/confirm`, customer)).status).toBe(200)
      expect((yield* post(`/orders/${orderId}/pay`, customer, { amountCents: 900, method: "card" })).status).toBe(202)
      // What the fulfilment saga does once the provider captured it (no saga runs on the shared database).
      const orders = yield* OrderActors
      yield* orders.execute(orderId, OrderCommand.RecordPayment({ attempt: 1, at: new Date().toISOString() }), {
        metadata: { correlationId: orderId, causationId: null, userId: null, role: "service" }
      })
      expect((yield* post(`/orders/${orderId}/ship`, staff, { carrier: "DHL", trackingNumber: "JD0146" })).status).toBe(200)

      const pushes = yield* eventually(
        "four pushes reached the customer",
        Effect.sync(() => push.gateway.delivered.filter((received) => received.body.to === customerId)),
        (received) => received.length >= 4
      )
      // Competing handlers may push them in any order; each names its event's version.
      const inOrder = [...pushes].sort((a, b) => a.body.data.version - b.body.data.version)
      expect(inOrder.map((received) => [received.body.title, received.body.body])).toEqual([
        ["Order confirmed", "Your order of €9.00 is confirmed. We will let you know when it ships."],
        ["Payment in progress", "We are processing your payment of €9.00."],
        ["Payment received", "We received your payment of €9.00 by card."],
        ["Your order is on its way", "Shipped with DHL. Tracking number: JD0146."]
      ])
      for (const received of pushes) expect(received.body.data).toMatchObject({ streamType: "order", streamId: orderId })
    }))

  it.effect("the same task published twice is pushed once", () =>
    Effect.gen(function*() {
      const { names } = yield* TestMessaging
      const push = yield* TestPushGateway
      const before = (yield* Metric.value(duplicates)).count
      const task = newTask()
      yield* publishTasks(names, [task, task])
      yield* eventually("the repeat was recognised", Metric.value(duplicates), (state) => state.count >= before + 1)
      expect(yield* deliveredFor(push, task.eventId)).toHaveLength(1)
      expect(yield* requestsFor(push, task.eventId)).toHaveLength(1)
    }))

  it.effect("a provider failing three times, then succeeding: one push, after three retries with growing waits", () =>
    Effect.gen(function*() {
      const { names } = yield* TestMessaging
      const push = yield* TestPushGateway
      const task = newTask()
      push.answerWith((received, attempt) =>
        received.idempotencyKey === task.eventId && attempt <= 3 ? { status: 503 } : { status: 200 })
      yield* publishTasks(names, [task])
      yield* eventually("the push went through", deliveredFor(push, task.eventId), (received) => received.length === 1)
      const attempts = yield* requestsFor(push, task.eventId)
      expect(attempts).toHaveLength(4)
      const waits = attempts.slice(1).map((received, i) => received.at - attempts[i]!.at)
      // Waits of 100, 200 and 400 ms through the delay queues, each at least its TTL.
      expect(waits[0]).toBeGreaterThanOrEqual(100)
      expect(waits[1]).toBeGreaterThan(waits[0]!)
      expect(waits[2]).toBeGreaterThan(waits[1]!)
    }))

  it.effect("a provider that always fails: the task is dead-lettered after the set attempts, with the reason", () =>
    Effect.gen(function*() {
      const { names } = yield* TestMessaging
      const push = yield* TestPushGateway
      const task = newTask()
      push.answerWith((received) => received.idempotencyKey === task.eventId ? { status: 500 } : { status: 200 })
      yield* publishTasks(names, [task])
      const letter = yield* eventually(
        "the task is in the dead-letter queue",
        Effect.map(deadLettersNow, (letters) => letters.find((candidate) => candidate.eventId === task.eventId)),
        (found) => found !== undefined
      )
      expect(letter).toMatchObject({ attempts: 4, routingKey: "order.shipped" })
      expect(letter!.reason).toMatch(/gateway answered 500.*gave up after 4 attempts/)
      expect(yield* requestsFor(push, task.eventId)).toHaveLength(4)
      expect(yield* deliveredFor(push, task.eventId)).toHaveLength(0)

      // The operator re-queues it once the provider is well again: it is pushed, once.
      push.answerWith(() => ({ status: 200 }))
      const requeued = yield* Effect.orDie(requeueDeadLetters(settings.amqp.url, names, [task.eventId]))
      expect(requeued).toEqual([task.eventId])
      yield* eventually("the re-queued task was pushed", deliveredFor(push, task.eventId), (received) => received.length === 1)
      expect((yield* deadLettersNow).find((candidate) => candidate.eventId === task.eventId)).toBeUndefined()
    }))

  it.effect("a request the provider refuses (4xx) is dead-lettered at once", () =>
    Effect.gen(function*() {
      const { names } = yield* TestMessaging
      const push = yield* TestPushGateway
      const task = newTask()
      push.answerWith((received) => received.idempotencyKey === task.eventId ? { status: 400 } : { status: 200 })
      yield* publishTasks(names, [task])
      const letter = yield* eventually(
        "the task is in the dead-letter queue",
        Effect.map(deadLettersNow, (letters) => letters.find((candidate) => candidate.eventId === task.eventId)),
        (found) => found !== undefined
      )
      expect(letter).toMatchObject({ attempts: 1, reason: expect.stringMatching(/gateway answered 400/) })
      expect(yield* requestsFor(push, task.eventId)).toHaveLength(1)
    }))

  it.effect("429 with Retry-After: the retry waits as long as the provider asked", () =>
    Effect.gen(function*() {
      const { names } = yield* TestMessaging
      const push = yield* TestPushGateway
      const task = newTask()
      push.answerWith((received, attempt) =>
        received.idempotencyKey === task.eventId && attempt === 1 ? { status: 429, headers: { "retry-after": "1" } } : { status: 200 })
      yield* publishTasks(names, [task])
      yield* eventually("the push went through", deliveredFor(push, task.eventId), (received) => received.length === 1)
      const [first, second] = yield* requestsFor(push, task.eventId)
      expect(second!.at - first!.at).toBeGreaterThanOrEqual(1000)
    }))

  it.effect("a task lost while it waits in a delay queue is published again by the sweeper, and pushed once", () =>
    Effect.gen(function*() {
      const { names } = yield* TestMessaging
      const push = yield* TestPushGateway
      const before = (yield* Metric.value(swept)).count
      const task = newTask()
      // Asked to wait 3 s: the task sits in the 3000 ms delay queue, long enough to lose it there.
      push.answerWith((received, attempt) =>
        received.idempotencyKey === task.eventId && attempt === 1 ? { status: 429, headers: { "retry-after": "3" } } : { status: 200 })
      yield* publishTasks(names, [task])
      yield* eventually("the task waits in the delay queue", queueDepth(names.delayQueue(3000)), (depth) => depth === 1)
      expect(yield* purgeQueue(names.delayQueue(3000))).toBe(1)

      // Due back after 3 s, swept 1 s after that (the test worker's grace).
      yield* eventually("the lost task was pushed", deliveredFor(push, task.eventId), (received) => received.length === 1)
      expect((yield* Metric.value(swept)).count).toBeGreaterThanOrEqual(before + 1)
      const [first, second] = yield* requestsFor(push, task.eventId)
      expect(second!.at - first!.at).toBeGreaterThanOrEqual(4000)
      yield* Effect.sleep("1500 millis")
      expect(yield* requestsFor(push, task.eventId)).toHaveLength(2)
    }))

  it.effect("a retry whose delay queue is gone is not lost: the broker returns the copy, and the task comes back", () =>
    Effect.gen(function*() {
      const { names } = yield* TestMessaging
      const push = yield* TestPushGateway
      const before = (yield* Metric.value(requeued)).count
      const task = newTask()
      // Deleted behind the worker's back: it still believes the queue is there.
      yield* deleteQueue(names.delayQueue(100))
      push.answerWith((received, attempt) =>
        received.idempotencyKey === task.eventId && attempt === 1 ? { status: 503 } : { status: 200 })
      yield* publishTasks(names, [task])
      yield* eventually("the push went through", deliveredFor(push, task.eventId), (received) => received.length === 1)
      expect(yield* requestsFor(push, task.eventId)).toHaveLength(2)
      expect((yield* Metric.value(requeued)).count).toBeGreaterThanOrEqual(before + 1)

      // The next retry that needs the queue declares it again.
      const next = newTask()
      push.answerWith((received, attempt) =>
        received.idempotencyKey === next.eventId && attempt === 1 ? { status: 503 } : { status: 200 })
      yield* publishTasks(names, [next])
      yield* eventually("the next push went through", deliveredFor(push, next.eventId), (received) => received.length === 1)
      const [first, second] = yield* requestsFor(push, next.eventId)
      expect(second!.at - first!.at).toBeLessThan(1000)
    }))

  it.effect("poison messages go to the dead-letter queue at once, and the next good task is still delivered", () =>
    Effect.gen(function*() {
      const { names } = yield* TestMessaging
      const push = yield* TestPushGateway
      push.answerWith(() => ({ status: 200 }))
      const notJson = randomUUID()
      const invalid = randomUUID()
      const unknown = newTask({ notification: "returned" })
      const good = newTask()
      yield* publishRaw(names, [
        { routingKey: "order.shipped", messageId: notJson, content: "{not json" },
        { routingKey: "order.shipped", messageId: invalid, content: JSON.stringify({ ...newTask(), customerId: 42 }) },
        { routingKey: "order.returned", messageId: unknown.eventId, content: JSON.stringify(unknown) }
      ])
      yield* publishTasks(names, [good])
      yield* eventually("the good task was pushed", deliveredFor(push, good.eventId), (received) => received.length === 1)
      const letters = yield* eventually(
        "the three poison messages are dead-lettered",
        deadLettersNow,
        (found) => [notJson, invalid, unknown.eventId].every((id) => found.some((letter) => letter.eventId === id))
      )
      const reasonOf = (id: string) => letters.find((letter) => letter.eventId === id)!.reason
      expect(reasonOf(notJson)).toMatch(/cannot decode the task/)
      expect(reasonOf(invalid)).toMatch(/cannot decode the task[\s\S]*customerId/)
      expect(reasonOf(unknown.eventId)).toBe('no template for notification "returned"')
      expect(yield* requestsFor(push, unknown.eventId)).toHaveLength(0)
      expect(yield* queueDepth(names.pushQueue)).toBe(0)
    }))
})
