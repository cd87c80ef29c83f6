import { describe, expect, it } from "vitest"
import { OrderCommand, orderAggregate } from "../../../src/domain/order/index.js"
import { confirmedOrder, invariantBreaches, makeWorld, pay, settle, stock, type World } from "../../support/fulfilmentWorld.js"

const stepsOf = (world: World, orderId: string) =>
  world.saga(orderId).steps.map((step) => `${step.step}${step.status === "succeeded" ? "" : ` (${step.status})`}`)

const cancel = (world: World, orderId: string, reason = "changed my mind") =>
  world.command(orderAggregate, orderId, OrderCommand.Cancel({ reason, at: new Date(world.now()).toISOString() }))
const ship = (world: World, orderId: string) =>
  world.command(orderAggregate, orderId, OrderCommand.Ship({ carrier: "DHL", trackingNumber: "T1", at: new Date(world.now()).toISOString() }))

describe("the fulfilment saga", () => {
  it("happy path: reserves every line, takes the payment, and on shipping moves the stock", () => {
    const world = makeWorld()
    stock(world, "A", 5)
    stock(world, "B", 5)
    confirmedOrder(world, "o1", { A: 2, B: 1 })
    settle(world, world.now())
    expect(world.order("o1").status).toBe("confirmed")
    expect(world.inventory("A")).toMatchObject({ onHand: 5, reservations: { o1: 2 } })
    pay(world, "o1")
    expect(world.order("o1").status).toBe("paymentPending")
    settle(world, world.now())
    expect(world.order("o1").status).toBe("paid")
    expect(world.saga("o1").data.phase).toBe("paid")
    expect(invariantBreaches(world, "o1")).toEqual([])
    ship(world, "o1")
    settle(world)
    expect(world.saga("o1")).toMatchObject({ status: "finished", outcome: "fulfilled" })
    expect(world.inventory("A")).toMatchObject({ onHand: 3, reservations: {} })
    expect(world.inventory("B")).toMatchObject({ onHand: 4, reservations: {} })
    expect(stepsOf(world, "o1")).toEqual([
      "read-order", "reserve:A", "reserve:B", "authorize:1", "capture:1", "order-paid:1", "ship:A", "ship:B"
    ])
  })

  for (const [line, expectedSteps] of [
    ["A", ["read-order", "reserve:A", "cancel-order"]],
    ["B", ["read-order", "reserve:A", "reserve:B", "release:A", "cancel-order"]],
    ["C", ["read-order", "reserve:A", "reserve:B", "reserve:C", "release:B", "release:A", "cancel-order"]]
  ] as const) {
    it(`out of stock at line ${line}: releases the lines before it (last first) and cancels the order out-of-stock`, () => {
      const world = makeWorld()
      for (const sku of ["A", "B", "C"]) stock(world, sku, sku === line ? 1 : 5)
      confirmedOrder(world, "o1", { A: 2, B: 2, C: 2 })
      settle(world, world.now())
      expect(world.order("o1")).toMatchObject({ status: "cancelled", cancelReason: "out-of-stock" })
      expect(stepsOf(world, "o1")).toEqual(expectedSteps)
      expect(world.saga("o1")).toMatchObject({ status: "finished", outcome: "cancelled" })
      expect(invariantBreaches(world, "o1")).toEqual([])
      for (const sku of ["A", "B", "C"]) expect(world.inventory(sku).reservations).toEqual({})
    })
  }

  it("declined: the order is confirmed again with the reason, and a second payment succeeds", () => {
    const world = makeWorld()
    stock(world, "A", 5)
    confirmedOrder(world, "o1", { A: 1 })
    settle(world, world.now())
    pay(world, "o1", "test-decline")
    settle(world, world.now())
    expect(world.order("o1")).toMatchObject({ status: "confirmed", lastDecline: { attempt: 1, reason: "card declined" } })
    expect(world.inventory("A").reservations).toEqual({ o1: 1 })
    pay(world, "o1")
    settle(world, world.now())
    expect(world.order("o1")).toMatchObject({ status: "paid", lastDecline: null })
    expect(invariantBreaches(world, "o1")).toEqual([])
  })

  it("no answer from the provider: voided, treated as declined", () => {
    const world = makeWorld()
    stock(world, "A", 5)
    confirmedOrder(world, "o1", { A: 1 })
    settle(world, world.now())
    pay(world, "o1", "test-timeout")
    settle(world, world.now())
    expect(world.order("o1")).toMatchObject({ status: "confirmed", lastDecline: { attempt: 1 } })
    expect(world.payment("o1").attempts[0]).toMatchObject({ status: "voided" })
    expect(stepsOf(world, "o1")).toContain("void:1")
  })

  it("a provider that answers after the timeout: voided there, nothing captured", () => {
    const world = makeWorld()
    stock(world, "A", 5)
    confirmedOrder(world, "o1", { A: 1 })
    settle(world, world.now())
    pay(world, "o1", "test-late")
    settle(world)
    const payment = [...world.provider.values()][0]!
    expect(payment).toMatchObject({ status: "voided", captures: 0 })
    expect(world.order("o1")).toMatchObject({ status: "cancelled", cancelReason: "reservation-expired" })
    expect(invariantBreaches(world, "o1")).toEqual([])
  })

  it("reservation expired: not paid within the time to live, the stock is released and the order cancelled", () => {
    const world = makeWorld()
    stock(world, "A", 5)
    confirmedOrder(world, "o1", { A: 1 })
    settle(world, world.now())
    world.advance(world.settings.reservationTtlMs - 1)
    settle(world, world.now())
    expect(world.order("o1").status).toBe("confirmed")
    world.advance(1)
    settle(world, world.now())
    expect(world.order("o1")).toMatchObject({ status: "cancelled", cancelReason: "reservation-expired" })
    expect(world.inventory("A").reservations).toEqual({})
  })

  it("expiry while a payment is in flight waits for it: paid stays paid, declined is cancelled", () => {
    const world = makeWorld()
    stock(world, "A", 5)
    confirmedOrder(world, "o1", { A: 1 })
    confirmedOrder(world, "o2", { A: 1 })
    settle(world, world.now())
    pay(world, "o1")
    pay(world, "o2", "test-decline")
    world.feedNext()
    world.feedNext()
    world.advance(world.settings.reservationTtlMs)
    // The timers fire first, while both payments are in flight.
    for (const id of ["o1", "o2"]) world.wakeOnce(id)
    settle(world)
    expect(world.order("o1").status).toBe("paid")
    expect(world.order("o2")).toMatchObject({ status: "cancelled", cancelReason: "reservation-expired" })
    expect(invariantBreaches(world, "o1")).toEqual([])
    expect(invariantBreaches(world, "o2")).toEqual([])
  })

  it("cancelled after payment: refund, record it on the order, then release the stock", () => {
    const world = makeWorld()
    stock(world, "A", 5)
    stock(world, "B", 5)
    confirmedOrder(world, "o1", { A: 1, B: 1 })
    settle(world, world.now())
    pay(world, "o1")
    settle(world, world.now())
    cancel(world, "o1")
    settle(world)
    expect(world.order("o1")).toMatchObject({ status: "cancelled", refundedCents: 2000, cancelReason: "changed my mind" })
    expect(stepsOf(world, "o1").slice(-4)).toEqual(["refund", "order-refunded", "release:B", "release:A"])
    expect(world.saga("o1").steps.filter((step) => step.compensation).map((step) => step.step)).toEqual([
      "refund", "order-refunded", "release:B", "release:A"
    ])
    expect(invariantBreaches(world, "o1")).toEqual([])
  })

  it("cancelled while reserving: the reservation in flight completes, then everything is released", () => {
    const world = makeWorld()
    stock(world, "A", 5)
    stock(world, "B", 5)
    confirmedOrder(world, "o1", { A: 1, B: 1 })
    world.feedNext()
    world.feedNext()
    world.feedNext()
    world.wakeOnce("o1") // read-order
    cancel(world, "o1")
    settle(world)
    expect(world.order("o1").status).toBe("cancelled")
    expect(world.inventory("A").reservations).toEqual({})
    expect(world.saga("o1")).toMatchObject({ status: "finished", outcome: "cancelled" })
  })

  it("an operator's compensation of a paid order cancels it first, so it cannot ship while refunded", () => {
    const world = makeWorld()
    stock(world, "A", 5)
    confirmedOrder(world, "o1", { A: 1 })
    settle(world, world.now())
    pay(world, "o1")
    settle(world, world.now())
    world.sagaCommand("o1", { _tag: "Compensate", by: "ops", cause: "c", at: new Date(world.now()).toISOString() }, "compensate-1")
    settle(world)
    expect(stepsOf(world, "o1").slice(-4)).toEqual(["cancel-order", "refund", "order-refunded", "release:A"])
    expect(world.order("o1")).toMatchObject({ status: "cancelled", cancelReason: "compensated by ops" })
    expect(invariantBreaches(world, "o1")).toEqual([])
  })

  it("a step that crashed after its effect runs again and does nothing twice", () => {
    const world = makeWorld()
    stock(world, "A", 5)
    confirmedOrder(world, "o1", { A: 2 })
    settle(world, world.now())
    pay(world, "o1")
    world.feedNext()
    world.wakeOnce("o1", "crash-after") // authorize: approved at the provider, recorded in the payment
    world.wakeOnce("o1") // again: answered from what the payment recorded
    world.wakeOnce("o1", "crash-after") // capture
    world.wakeOnce("o1") // again: the provider keeps its answer
    settle(world, world.now())
    expect(world.order("o1").status).toBe("paid")
    expect([...world.provider.values()][0]).toMatchObject({ captures: 1 })
    expect(world.inventory("A").reservations).toEqual({ o1: 2 })
  })

  it("a failing step is retried with a growing backoff, then parked; an operator's retry runs it again", () => {
    const world = makeWorld({ ...makeWorld().settings, retry: { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 60_000 } })
    stock(world, "A", 5)
    confirmedOrder(world, "o1", { A: 1 })
    world.feedNext()
    world.feedNext()
    world.feedNext()
    world.wakeOnce("o1", "fail")
    const first = world.saga("o1").steps[0]!
    expect(first).toMatchObject({ status: "scheduled", attempts: 1, lastError: "injected" })
    expect(Date.parse(first.notBefore) - world.now()).toBe(1000)
    world.advance(1000)
    world.wakeOnce("o1", "fail")
    expect(Date.parse(world.saga("o1").steps[0]!.notBefore) - world.now()).toBe(2000)
    world.advance(2000)
    world.wakeOnce("o1", "fail")
    expect(world.saga("o1").steps[0]).toMatchObject({ status: "parked", attempts: 3 })
    expect(world.dueSagas()).toEqual([])
    world.sagaCommand("o1", { _tag: "Resume", by: "ops", cause: "r", at: new Date(world.now()).toISOString() }, "resume-1")
    settle(world, world.now())
    expect(world.saga("o1").data.phase).toBe("awaitingPayment")
  })

  it("duplicate and replayed events do nothing twice", () => {
    const world = makeWorld()
    stock(world, "A", 5)
    confirmedOrder(world, "o1", { A: 1 })
    while (world.feedNext(true)) { /* every event delivered twice */ }
    settle(world, world.now())
    pay(world, "o1")
    world.feedNext(true)
    settle(world, world.now())
    expect(world.saga("o1").steps.filter((step) => step.kind === "authorize")).toHaveLength(1)
    expect(world.order("o1").status).toBe("paid")
    expect(invariantBreaches(world, "o1")).toEqual([])
  })
})
