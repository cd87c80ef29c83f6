/**
 * The fulfilment saga's process killed at every step: for each kind of step, once just before a step
 * of that kind runs, and once after it ran and before the saga recorded its result (SAGA_CRASH_AT,
 * SIGKILL). Each killed `serve` is followed by the next, which carries on every saga in flight (and
 * dies at its own point), while a customer drives one order per point through the flow that reaches
 * it. At the end every order is whole — paid with its stock and one capture, or cancelled with
 * nothing held and no money kept, or waiting to be paid again after a decline — and nothing was done
 * twice: one capture, one refund, one stock movement per line, each step recorded once.
 *
 * It kills only its own processes, on a database of its own: it runs beside the other integration
 * tests, not alone with the faults that take services away.
 */
import { expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, Option } from "effect"
import { randomUUID } from "node:crypto"
import { type CliProcess, startBuiltCli } from "../../bench/lib/processes.js"
import { startDevPaymentProvider } from "../../src/payments/DevPaymentProvider.js"
import { paymentIdOf } from "../../src/processes/fulfilment/definition.js"
import { adminToken, authEnvironment, bearer } from "../support/auth.js"
import { runMigrationsOn, scratchDatabase } from "../support/databases.js"
import { freePort } from "../support/faults/toxiproxy.js"
import { opsPortOf } from "../support/ops.js"
import { readyAnswers } from "../support/readiness.js"

type Flow = "happy" | "declined" | "silent" | "cancelled-after-payment" | "out-of-stock"

/** The flow whose order runs a step of each kind. */
const flowOf: Readonly<Record<string, Flow>> = {
  "read-order": "happy",
  reserve: "happy",
  authorize: "happy",
  capture: "happy",
  "order-paid": "happy",
  "ship-stock": "happy",
  "order-declined": "declined",
  void: "silent",
  refund: "cancelled-after-payment",
  "order-refunded": "cancelled-after-payment",
  release: "out-of-stock",
  "cancel-order": "out-of-stock"
}
const points = Object.keys(flowOf).flatMap((kind) => [`${kind}:before`, `${kind}:after`])

const LISTENING = /Listening on http:\/\/[^:"]+:(\d+)/

interface Order {
  readonly id: string
  readonly flow: Flow
  /** The customer's next move: done once it is made. */
  step: "pay" | "ship" | "cancel" | "done"
}

it.scopedLive(`the saga's process killed before and after each of ${points.length / 2} kinds of step: every order ends whole, nothing done twice`, () =>
  Effect.gen(function*() {
    const database = yield* scratchDatabase
    yield* runMigrationsOn(database.url)
    const provider = yield* Effect.acquireRelease(
      Effect.promise(() => startDevPaymentProvider({ port: 0 })),
      (sink) => Effect.promise(() => sink.close())
    )
    const env = {
      ...authEnvironment,
      DATABASE_URL: database.url,
      CLUSTER: "false",
      OUTBOX_RELAY: "false",
      PROJECTOR: "false",
      PROCESS_MANAGER: "true",
      PAYMENT_PROVIDER_URL: provider.url,
      PAYMENT_TIMEOUT: "1 second",
      SAGA_POLL_INTERVAL: "100 millis",
      SAGA_RETRY_BASE_DELAY: "100 millis",
      RESERVATION_TTL: "1 hour",
      RATE_LIMIT_PER_SECOND: "1000000",
      RATE_LIMIT_BURST: "1000000"
    }
    let base: string | undefined
    const start = (crashAt?: string) =>
      Effect.gen(function*() {
        const port = String(yield* freePort)
        const serve = yield* startBuiltCli(["serve"], crashAt === undefined ? { ...env, PORT: port } : { ...env, PORT: port, SAGA_CRASH_AT: crashAt })
        const listening = yield* Effect.either(serve.waitForLine(LISTENING, 60_000))
        if (Either.isRight(listening)) {
          base = `http://127.0.0.1:${LISTENING.exec(listening.right)![1]}`
          return serve
        }
        // A saga left from an earlier point can reach this one while the process still starts (its
        // wakers run before its server listens): killed there before it listened, as meant.
        const exit = crashAt === undefined ? undefined : yield* Effect.option(Effect.timeout(serve.exited, "5 seconds"))
        if (exit === undefined || Option.isNone(exit) || exit.value.signal !== "SIGKILL") return yield* Effect.fail(listening.left)
        return serve
      })

    /** One request to whichever serve is up; status 0 while none is. */
    const call = (method: string, path: string, body?: unknown, key?: string) =>
      Effect.promise(async () => {
        if (base === undefined) return { status: 0, json: undefined as any }
        try {
          const response = await fetch(`${base}${path}`, {
            method,
            headers: {
              ...bearer(adminToken),
              ...(key === undefined ? {} : { "idempotency-key": key }),
              ...(body === undefined ? {} : { "content-type": "application/json" })
            },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
            signal: AbortSignal.timeout(5_000)
          })
          return { status: response.status, json: await response.json().catch(() => undefined) as any }
        } catch {
          return { status: 0, json: undefined as any }
        }
      })
    /** A command sent until it gets a definite answer, with its key: across a restart it is the same command. */
    const command = (method: string, path: string, body?: unknown) =>
      Effect.gen(function*() {
        const key = randomUUID()
        for (let attempt = 0; attempt < 200; attempt++) {
          const response = yield* call(method, path, body, key)
          if (response.status >= 200 && response.status < 500) return response
          yield* Effect.sleep("100 millis")
        }
        return yield* Effect.dieMessage(`${method} ${path} got no answer`)
      })

    const inStock = `IN-${randomUUID().slice(0, 6)}`
    const spare = `SPARE-${randomUUID().slice(0, 6)}`
    const gone = `GONE-${randomUUID().slice(0, 6)}`

    /** Places and confirms an order of the flow. */
    const placeFor = (flow: Flow) =>
      Effect.gen(function*() {
        const lines = flow === "out-of-stock"
          ? [{ sku: inStock, quantity: 1, unitPriceCents: 500 }, { sku: spare, quantity: 2, unitPriceCents: 250 }, { sku: gone, quantity: 1, unitPriceCents: 100 }]
          : [{ sku: inStock, quantity: 1, unitPriceCents: 500 }, { sku: spare, quantity: 2, unitPriceCents: 250 }]
        const placed = yield* command("POST", "/orders", { customerId: randomUUID(), currency: "EUR", lines })
        expect(placed.status).toBe(201)
        const id = placed.json.orderId as string
        expect((yield* command("POST", `/orders/${id}/confirm`)).status).toBe(200)
        return { id, flow, step: flow === "out-of-stock" ? "done" : "pay" } as Order
      })

    const orders: Array<Order> = []
    const method: Record<Flow, string> = {
      happy: "card",
      declined: "test-decline",
      silent: "test-timeout",
      "cancelled-after-payment": "card",
      "out-of-stock": "card"
    }
    /** The customer (and staff): each order's next move, once the saga got it there. */
    const customer = Effect.gen(function*() {
      for (;;) {
        for (const order of orders) {
          if (order.step === "done") continue
          const view = yield* call("GET", `/orders/${order.id}/fulfilment`)
          if (view.status !== 200) continue
          const phase = view.json.phase as string
          if (order.step === "pay" && phase === "awaitingPayment") {
            expect((yield* command("POST", `/orders/${order.id}/pay`, { amountCents: 1000, method: method[order.flow] })).status).toBe(202)
            order.step = order.flow === "happy" ? "ship" : order.flow === "cancelled-after-payment" ? "cancel" : "done"
          } else if (order.step === "ship" && phase === "paid") {
            expect((yield* command("POST", `/orders/${order.id}/ship`, { carrier: "DHL", trackingNumber: "T1" })).status).toBe(200)
            order.step = "done"
          } else if (order.step === "cancel" && phase === "paid") {
            expect((yield* command("POST", `/orders/${order.id}/cancel`, { reason: "changed my mind" })).status).toBe(200)
            order.step = "done"
          }
        }
        yield* Effect.sleep("100 millis")
      }
    })

    // Stock: plenty of two SKUs, none of the third.
    const stocking: CliProcess = yield* start()
    for (const [sku, onHand] of [[inStock, 1000], [spare, 1000], [gone, 0]] as const) {
      expect((yield* command("PUT", `/inventory/${sku}`, { onHand })).status).toBe(200)
    }
    yield* stocking.kill("SIGTERM")
    yield* stocking.exited
    base = undefined
    const driving = yield* Effect.fork(customer)

    // Each point: a serve that dies there, and an order whose flow gets it there. The order is
    // placed beside the wait: a saga left from an earlier point may reach this point first, and kill
    // the serve while the order is being placed (its commands then go to the next serve).
    const placing: Array<Fiber.RuntimeFiber<void>> = []
    for (const point of points) {
      const serve = yield* start(point)
      placing.push(yield* Effect.fork(Effect.flatMap(placeFor(flowOf[point.split(":")[0]!]!), (order) => Effect.sync(() => void orders.push(order)))))
      const exit = yield* serve.exited.pipe(Effect.timeout(Duration.seconds(30)), Effect.option)
      base = undefined
      expect({ point, exit: exit._tag === "Some" ? exit.value : "still running after 30 s" }).toEqual({ point, exit: { code: null, signal: "SIGKILL" } })
    }

    // The last one carries every saga to its end, and the customer makes their last moves. Its /ready
    // says it runs the sagas' feed (the only serve left, it took the lock).
    const last = yield* start()
    expect((yield* readyAnswers(yield* opsPortOf(last), 200, (answer) => answer.body.sagaFeed === "active")).body)
      .toMatchObject({ status: "ready", sagaFeed: "active" })
    yield* Fiber.joinAll(placing)
    expect(orders).toHaveLength(points.length)
    const settled = (order: Order) =>
      Effect.map(call("GET", `/orders/${order.id}/fulfilment`), (view) =>
        view.status === 200 && order.step === "done" &&
        (view.json.status === "finished" || (view.json.phase === "awaitingPayment" && ["declined", "silent"].includes(order.flow))) &&
        view.json.steps.every((step: any) => step.status === "succeeded"))
    for (let attempt = 0; ; attempt++) {
      const done = yield* Effect.forEach(orders, settled)
      if (done.every(Boolean)) break
      if (attempt > 300) expect.fail(`orders not settled: ${orders.filter((_, i) => !done[i]).map((o) => `${o.id} (${o.flow}, ${o.step})`).join(", ")}`)
      yield* Effect.sleep("100 millis")
    }
    yield* Fiber.interrupt(driving)

    // Every order whole; nothing done twice.
    let shippedUnits = 0
    let heldUnits = 0
    for (const order of orders) {
      const state = (yield* call("GET", `/orders/${order.id}`)).json
      const fulfilment = (yield* call("GET", `/orders/${order.id}/fulfilment`)).json
      const events = ((yield* call("GET", `/orders/${order.id}/events`)).json as Array<any>).map((event) => event.type)
      const once = (type: string) => events.filter((t) => t === type).length
      const payments = [1, 2].map((attempt) => provider.payment(paymentIdOf(order.id, attempt))).filter((p) => p !== undefined)
      const captures = payments.reduce((n, p) => n + p!.captures, 0)
      const refunds = payments.reduce((n, p) => n + p!.refunds, 0)
      const steps = (fulfilment.steps as Array<any>).map((step) => step.step)
      expect({ order: order.id, flow: order.flow, duplicateSteps: steps.filter((s, i) => steps.indexOf(s) !== i) }).toMatchObject({ duplicateSteps: [] })
      switch (order.flow) {
        case "happy":
          expect({ id: order.id, status: state.status, captures, refunds, paid: once("OrderPaid") }).toMatchObject({ status: "shipped", captures: 1, refunds: 0, paid: 1 })
          expect(fulfilment.outcome).toBe("fulfilled")
          shippedUnits++
          break
        case "cancelled-after-payment":
          expect({ id: order.id, status: state.status, captures, refunds, refunded: once("OrderRefunded") })
            .toMatchObject({ status: "cancelled", captures: 1, refunds: 1, refunded: 1 })
          break
        case "out-of-stock":
          expect({ id: order.id, status: state.status, reason: state.cancelReason, captures, cancelled: once("OrderCancelled") })
            .toMatchObject({ status: "cancelled", reason: "out-of-stock", captures: 0, cancelled: 1 })
          break
        case "declined":
        case "silent":
          expect({ id: order.id, status: state.status, captures, declined: once("PaymentDeclined") })
            .toMatchObject({ status: "confirmed", captures: 0, declined: 1 })
          heldUnits++
          break
      }
    }
    // The stock: one unit of `inStock` moved per shipped order, one held per order waiting to pay again.
    const stock = (yield* call("GET", `/inventory/${inStock}`)).json
    expect(stock).toMatchObject({ onHand: 1000 - shippedUnits, reserved: heldUnits })
    expect((yield* call("GET", `/inventory/${spare}`)).json).toMatchObject({ onHand: 1000 - 2 * shippedUnits, reserved: 2 * heldUnits })
    expect((yield* call("GET", `/inventory/${gone}`)).json).toMatchObject({ onHand: 0, reserved: 0 })
  }), { timeout: 300_000 })
