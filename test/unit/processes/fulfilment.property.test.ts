/**
 * Random schedules over several orders competing for the same SKUs: events delivered late or twice,
 * steps failing or crashing after their effect, customers paying (some cards declined, some
 * providers silent or late), cancelling, staff shipping, time passing. Whatever happens, once the
 * world settles every order is paid with its stock reserved and one capture (or shipped, its stock
 * moved), or cancelled with nothing reserved and no money kept; and no SKU is ever oversold.
 */
import { FastCheck as fc } from "effect"
import { describe, expect, it } from "vitest"
import { OrderCommand, orderAggregate } from "../../../src/domain/order/index.js"
import { confirmedOrder, invariantBreaches, makeWorld, pay, settle, stock } from "../../support/fulfilmentWorld.js"

const skus = ["S0", "S1", "S2"]

/** What happens next, weighted: the feed and the wakers move most often. */
const actions = ["feed", "feed", "feed", "wake", "wake", "wake", "wake", "wake", "wake", "pay", "pay", "pay", "cancel", "ship", "ship", "wait"] as const

const scenario = fc.record({
  onHand: fc.array(fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 5, arbitrary: fc.integer({ min: 2, max: 12 }) }), { minLength: skus.length, maxLength: skus.length }),
  orders: fc.array(
    fc.uniqueArray(fc.record({ sku: fc.constantFrom(...skus), quantity: fc.integer({ min: 1, max: 2 }) }), {
      minLength: 1,
      maxLength: 3,
      selector: (line) => line.sku
    }),
    { minLength: 1, maxLength: 5 }
  ),
  schedule: fc.array(
    fc.record({
      action: fc.constantFrom(...actions),
      pick: fc.nat(),
      fault: fc.constantFrom<Array<"none" | "fail" | "crash-after">>("none", "none", "fail", "crash-after"),
      method: fc.constantFrom("card", "card", "test-decline", "test-timeout", "test-late"),
      wait: fc.constantFrom(1_000, 5_000, 60_000, 15 * 60_000)
    }),
    { minLength: 40, maxLength: 300, size: "max" }
  )
})

/** What the runs covered, summed: the property means little unless every path was taken. */
const covered: Record<string, number> = {}
const count = (what: string, n = 1) => void (covered[what] = (covered[what] ?? 0) + n)

describe("fulfilment saga properties", () => {
  it("every order ends paid with its stock and one capture, or cancelled with nothing held and no money kept; nothing oversold", () => {
    fc.assert(
      fc.property(scenario, ({ onHand, orders, schedule }) => {
        const world = makeWorld()
        skus.forEach((sku, i) => stock(world, sku, onHand[i]!))
        const ids = orders.map((lines, i) => {
          const id = `o${i}`
          confirmedOrder(world, id, Object.fromEntries(lines.map((line) => [line.sku, line.quantity])))
          return id
        })
        const at = () => new Date(world.now()).toISOString()
        for (const { action, fault, method, pick, wait } of schedule) {
          const orderId = ids[pick % ids.length]!
          switch (action) {
            case "feed":
              world.feedNext(pick % 3 === 0)
              break
            case "wake": {
              const due = world.dueSagas()
              if (due.length > 0) world.wakeOnce(due[pick % due.length]!, fault)
              break
            }
            case "pay":
              if (world.order(orderId).status === "confirmed") pay(world, orderId, method)
              break
            case "cancel":
              if (pick % 3 === 0) world.command(orderAggregate, orderId, OrderCommand.Cancel({ reason: "customer", at: at() }))
              break
            case "ship":
              if (world.order(orderId).status === "paid") {
                world.command(orderAggregate, orderId, OrderCommand.Ship({ carrier: "DHL", trackingNumber: "T", at: at() }))
              }
              break
            case "wait":
              world.advance(wait)
          }
        }
        const runs = world.runs()
        count("step runs failed", runs.fail)
        count("step runs crashed after their effect", runs["crash-after"])
        settle(world)
        expect(world.lowestAvailable()).toBeGreaterThanOrEqual(0)
        for (const id of ids) {
          expect({ id, breaches: invariantBreaches(world, id) }).toEqual({ id, breaches: [] })
          const saga = world.saga(id)
          const waitingForShipment = saga.status === "running" && saga.data.phase === "paid"
          expect({ id, finished: saga.status === "finished" || waitingForShipment }).toEqual({ id, finished: true })
          expect(saga.steps.filter((step) => step.status !== "succeeded")).toEqual([])
          const order = world.order(id)
          count(`ended ${order.status}${order.cancelReason === null ? "" : ` (${order.cancelReason})`}`)
          if (order.refundedCents !== null) count("refunded")
          if (saga.steps.some((step) => step.kind === "void")) count("voided")
          if (order.paymentAttempts > 1) count("paid again after a decline")
        }
        for (const sku of skus) {
          const held = world.inventory(sku)
          expect(held.onHand).toBeGreaterThanOrEqual(Object.values(held.reservations).reduce((a, b) => a + b, 0))
        }
      }),
      { numRuns: 300 }
    )
    for (
      const path of [
        "ended paid",
        "ended shipped",
        "ended cancelled (out-of-stock)",
        "ended cancelled (reservation-expired)",
        "ended cancelled (customer)",
        "refunded",
        "voided",
        "paid again after a decline",
        "step runs failed",
        "step runs crashed after their effect"
      ]
    ) expect({ path, covered: (covered[path] ?? 0) > 0 }).toEqual({ path, covered: true })
  })
})
