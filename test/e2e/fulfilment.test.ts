/**
 * The order fulfilment saga end to end: the HTTP API, the process manager, PostgreSQL and the local
 * payment provider, on a database of their own. Every failure point and its compensation, judged by
 * the order, the stock and the provider's ledger. The API is called through its typed client, but
 * where a test looks at what the client cannot send or see (a malformed body, headers).
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { NotFound } from "../../src/client.js"
import { call, get, typedApi } from "../support/http.js"
import {
  confirmedOrder,
  fulfilmentLayer,
  type Fulfilment,
  fulfilmentOf,
  orderOf,
  PaymentSink,
  stockOf,
  stocked,
  untilFulfilment
} from "../support/fulfilment.js"

/** Asks to pay (202: accepted as paymentPending). */
const pay = (orderId: string, method = "card") =>
  Effect.gen(function*() {
    const api = yield* typedApi
    const order = yield* orderOf(orderId)
    return yield* api.orders.pay({ path: { orderId }, headers: {}, payload: { amountCents: order.totalCents, method } })
  })

const timelineOf = (orderId: string) => Effect.flatMap(typedApi, (api) => api.orders.events({ path: { orderId }, urlParams: {} }))

const phase = (name: string) => (fulfilment: Fulfilment) => fulfilment.phase === name
const finished = (fulfilment: Fulfilment) => fulfilment.status === "finished"
const stepNames = (fulfilment: Fulfilment) => fulfilment.steps.map((step) => step.step)
const stepOf = (fulfilment: Fulfilment, found: (step: Fulfilment["steps"][number]) => boolean) => {
  const step = fulfilment.steps.find(found)
  expect(step, `a step in ${JSON.stringify(stepNames(fulfilment))}`).toBeDefined()
  return step!
}
/** What a step was given, as the saga recorded it. */
const inputOf = (step: Fulfilment["steps"][number]) => step.input as { readonly paymentId: string }

layer(fulfilmentLayer(), { excludeTestServices: true })("the fulfilment saga", (it) => {
  it.effect("happy path: reserves, takes one payment, and on shipping turns the reservations into stock movements", () =>
    Effect.gen(function*() {
      const a = yield* stocked(5)
      const b = yield* stocked(3)
      const orderId = yield* confirmedOrder({ [a]: 2, [b]: 1 })
      yield* untilFulfilment(orderId, phase("awaitingPayment"))
      expect(yield* stockOf(a)).toMatchObject({ onHand: 5, reserved: 2, available: 3 })

      yield* pay(orderId)
      expect((yield* orderOf(orderId)).status).toMatch(/paymentPending|paid/)
      const paid = yield* untilFulfilment(orderId, phase("paid"))
      const order = yield* orderOf(orderId)
      expect(order).toMatchObject({ status: "paid", lastDecline: null, cancelReason: null })
      expect(stepNames(paid)).toEqual(["read-order", `reserve:${a}`, `reserve:${b}`, "authorize:1", "capture:1", "order-paid:1"])
      for (const step of paid.steps) {
        expect(step).toMatchObject({ status: "succeeded", attempts: 0, compensation: false })
        expect(Date.parse(step.finishedAt ?? "")).toBeGreaterThanOrEqual(Date.parse(step.scheduledAt))
      }
      const sink = yield* PaymentSink
      const captured = sink.payments().filter((payment) => payment.captures > 0 && payment.amountCents === order.totalCents)
      expect(captured.length).toBeGreaterThanOrEqual(1)

      // What the saga did to the order is recorded as the saga's doing, caused by its step, correlated by the order.
      const timeline = yield* timelineOf(orderId)
      const orderPaid = timeline.find((event) => event.type === "OrderPaid")
      expect(orderPaid?.metadata).toMatchObject({ correlationId: orderId, userId: null, role: "service", causationId: expect.any(String) })

      yield* Effect.flatMap(typedApi, (api) =>
        api.orders.ship({ path: { orderId }, headers: {}, payload: { carrier: "DHL", trackingNumber: "JD1" } }))
      const done = yield* untilFulfilment(orderId, finished)
      expect(done).toMatchObject({ outcome: "fulfilled", compensating: false })
      expect(yield* stockOf(a)).toMatchObject({ onHand: 3, reserved: 0, available: 3 })
      expect(yield* stockOf(b)).toMatchObject({ onHand: 2, reserved: 0, available: 2 })
    }))

  it.effect("out of stock at the second line: the first is released and the order cancelled out-of-stock", () =>
    Effect.gen(function*() {
      const a = yield* stocked(5)
      const b = yield* stocked(1)
      const orderId = yield* confirmedOrder({ [a]: 2, [b]: 2 })
      const done = yield* untilFulfilment(orderId, finished)
      expect(done).toMatchObject({ outcome: "cancelled", cancelReason: "out-of-stock", compensating: true })
      expect(stepNames(done)).toEqual(["read-order", `reserve:${a}`, `reserve:${b}`, `release:${a}`, "cancel-order"])
      expect(stepOf(done, (step) => step.step === `reserve:${b}`).output).toMatchObject({ reserved: false })
      expect(yield* orderOf(orderId)).toMatchObject({ status: "cancelled", cancelReason: "out-of-stock" })
      expect(yield* stockOf(a)).toMatchObject({ onHand: 5, reserved: 0 })
      expect(yield* stockOf(b)).toMatchObject({ onHand: 1, reserved: 0 })
    }))

  it.effect("declined: the order is confirmed again with the decline visible, and may be paid again", () =>
    Effect.gen(function*() {
      const a = yield* stocked(5)
      const orderId = yield* confirmedOrder({ [a]: 1 })
      yield* untilFulfilment(orderId, phase("awaitingPayment"))
      yield* pay(orderId, "test-decline")
      yield* untilFulfilment(orderId, (f) => f.phase === "awaitingPayment" && stepNames(f).includes("order-declined:1"))
      expect(yield* orderOf(orderId)).toMatchObject({ status: "confirmed", lastDecline: { attempt: 1, reason: "card declined" } })
      expect(yield* stockOf(a)).toMatchObject({ reserved: 1 })
      yield* pay(orderId)
      yield* untilFulfilment(orderId, phase("paid"))
      expect(yield* orderOf(orderId)).toMatchObject({ status: "paid", lastDecline: null })
    }))

  it.effect("no answer within the payment timeout: voided at the provider, treated as declined", () =>
    Effect.gen(function*() {
      const a = yield* stocked(5)
      const orderId = yield* confirmedOrder({ [a]: 1 })
      yield* untilFulfilment(orderId, phase("awaitingPayment"))
      yield* pay(orderId, "test-timeout")
      const declined = yield* untilFulfilment(orderId, (f) => stepNames(f).includes("order-declined:1") && f.phase === "awaitingPayment")
      expect(stepNames(declined)).toEqual(["read-order", `reserve:${a}`, "authorize:1", "void:1", "order-declined:1"])
      expect(stepOf(declined, (step) => step.kind === "authorize").output).toMatchObject({ approved: false, timedOut: true })
      expect(yield* orderOf(orderId)).toMatchObject({ status: "confirmed", lastDecline: { attempt: 1 } })
      const sink = yield* PaymentSink
      expect(sink.payments().some((payment) => payment.status === "voided" && payment.calls.authorize >= 1)).toBe(true)
    }))

  it.effect("a provider that answers after the timeout: voided there first, so nothing is captured; paid with the next attempt", () =>
    Effect.gen(function*() {
      const a = yield* stocked(5)
      const orderId = yield* confirmedOrder({ [a]: 1 })
      yield* untilFulfilment(orderId, phase("awaitingPayment"))
      yield* pay(orderId, "test-late")
      yield* untilFulfilment(orderId, (f) => stepNames(f).includes("order-declined:1") && f.phase === "awaitingPayment")
      yield* Effect.sleep("2 seconds") // the late answer comes, after the void
      yield* pay(orderId)
      yield* untilFulfilment(orderId, phase("paid"))
      const sink = yield* PaymentSink
      const order = yield* orderOf(orderId)
      const timeline = yield* timelineOf(orderId)
      expect(timeline.filter((event) => event.type === "PaymentRequested").map((event) => (event.data as { attempt: number }).attempt))
        .toEqual([1, 2])
      const fulfilment = yield* fulfilmentOf(orderId)
      const ids = fulfilment.steps.filter((step) => step.kind === "authorize").map((step) => inputOf(step).paymentId)
      expect(ids.map((id) => sink.payment(id)?.status)).toEqual(["voided", "captured"])
      expect(ids.map((id) => sink.payment(id)?.captures)).toEqual([0, 1])
      expect(order.status).toBe("paid")
    }))

  it.effect("cancelled after payment: refunded, the refund recorded on the order, then the stock released", () =>
    Effect.gen(function*() {
      const a = yield* stocked(5)
      const b = yield* stocked(5)
      const orderId = yield* confirmedOrder({ [a]: 1, [b]: 2 })
      yield* untilFulfilment(orderId, phase("awaitingPayment"))
      yield* pay(orderId)
      yield* untilFulfilment(orderId, phase("paid"))
      yield* Effect.flatMap(typedApi, (api) => api.orders.cancel({ path: { orderId }, headers: {}, payload: { reason: "changed my mind" } }))
      const done = yield* untilFulfilment(orderId, finished)
      expect(done).toMatchObject({ outcome: "cancelled", cancelReason: "changed my mind", compensating: true })
      expect(done.steps.filter((step) => step.compensation).map((step) => step.step)).toEqual([
        "refund", "order-refunded", `release:${b}`, `release:${a}`
      ])
      const order = yield* orderOf(orderId)
      expect(order).toMatchObject({ status: "cancelled", refundedCents: order.totalCents })
      const [paymentId] = done.steps.filter((step) => step.kind === "authorize").map((step) => inputOf(step).paymentId)
      const sink = yield* PaymentSink
      expect(sink.payment(paymentId!)).toMatchObject({ status: "refunded", captures: 1, refunds: 1 })
      expect(yield* stockOf(a)).toMatchObject({ onHand: 5, reserved: 0 })
      expect(yield* stockOf(b)).toMatchObject({ onHand: 5, reserved: 0 })
    }))

  it.effect("inventory: staff set stock, below what is reserved is refused, and a SKU never stocked is 404", () =>
    Effect.gen(function*() {
      const a = yield* stocked(2)
      const orderId = yield* confirmedOrder({ [a]: 2 })
      yield* untilFulfilment(orderId, phase("awaitingPayment"))
      const refused = yield* call("PUT", `/inventory/${a}`, { body: { onHand: 1 } })
      expect(refused.status, refused.text).toBe(422)
      expect(refused.json).toMatchObject({ error: "rule_violated", rule: "on-hand-below-reserved" })
      const raised = yield* call("PUT", `/inventory/${a}`, { body: { onHand: 7 } })
      expect(raised.json).toMatchObject({ sku: a, onHand: 7, reserved: 2, available: 5 })
      expect(raised.headers.get("etag")).toBe(`"${raised.json.version}"`)
      expect((yield* get("/inventory/NEVER-STOCKED-1")).status).toBe(404)
      const bad = yield* call("PUT", `/inventory/${a}`, { body: { onHand: -1 } })
      expect(bad.status).toBe(400)
      expect(bad.json).toMatchObject({ field: "onHand" })
    }))

  it.effect("an order never confirmed has no fulfilment", () =>
    Effect.gen(function*() {
      const api = yield* typedApi
      const { orderId } = yield* api.orders.place({
        headers: {},
        payload: { customerId: "9d2b0c44-57f7-4a5e-8f0a-6f1c2b3d4e5f", currency: "EUR", lines: [{ sku: "X", quantity: 1, unitPriceCents: 1 }] }
      })
      expect(yield* Effect.flip(fulfilmentOf(orderId))).toBeInstanceOf(NotFound)
    }))
})

layer(fulfilmentLayer({ reservationTtl: "1500 millis" }), { excludeTestServices: true })("a short reservation time to live, in real time", (it) => {
  it.effect("not paid in time: the stock is released and the order cancelled reservation-expired", () =>
    Effect.gen(function*() {
      const a = yield* stocked(3)
      const orderId = yield* confirmedOrder({ [a]: 2 })
      const waiting = yield* untilFulfilment(orderId, phase("awaitingPayment"))
      expect(waiting.timers).toHaveLength(1)
      expect(yield* stockOf(a)).toMatchObject({ reserved: 2 })
      const done = yield* untilFulfilment(orderId, finished, "10 seconds")
      expect(done).toMatchObject({ outcome: "cancelled", cancelReason: "reservation-expired", timers: [] })
      expect(yield* orderOf(orderId)).toMatchObject({ status: "cancelled", cancelReason: "reservation-expired" })
      expect(yield* stockOf(a)).toMatchObject({ onHand: 3, reserved: 0 })
    }))
})
