import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import type { NotificationTask } from "../../../src/messaging/contracts.js"
import { renderNotification } from "../../../src/notifications/render.js"

const task = (notification: string, details: NotificationTask["details"]): NotificationTask => ({
  taskVersion: 1,
  eventId: "0d5c2f1e-2b0e-4e0a-9d1b-1c2d3e4f5a6b",
  streamType: "order",
  streamId: "order-1",
  version: 3,
  notification,
  customerId: "customer-7",
  details,
  recordedAt: "2026-05-06T07:08:09.000Z",
  correlationId: "c-1"
})

describe("rendering push notifications", () => {
  it.each([
    ["confirmed", { totalCents: 1250, currency: "EUR" }, "Order confirmed", "Your order of €12.50 is confirmed. We will let you know when it ships."],
    ["paid", { amountCents: 399, currency: "USD", method: "card" }, "Payment received", "We received your payment of $3.99 by card."],
    ["shipped", { carrier: "DHL", trackingNumber: "JD0146" }, "Your order is on its way", "Shipped with DHL. Tracking number: JD0146."],
    ["delivered", {}, "Delivered", "Your order has been delivered. Enjoy!"],
    ["cancelled", { reason: "out of stock" }, "Order cancelled", "Your order was cancelled: out of stock."],
    ["payment-pending", { amountCents: 1250, currency: "EUR", method: "card" }, "Payment in progress", "We are processing your payment of €12.50."],
    ["payment-declined", { reason: "card declined" }, "Payment declined", "Your payment was declined (card declined). Your order is kept; you can pay again."],
    ["refunded", { amountCents: 1250, currency: "EUR" }, "Refund issued", "We refunded €12.50 to you."]
  ] as const)("%s: a title and a body addressed to the customer", (name, details, title, body) => {
    expect(renderNotification(task(name, details))).toEqual(Either.right({
      to: "customer-7",
      title,
      body,
      data: { streamType: "order", streamId: "order-1", eventId: task(name, details).eventId, notification: name, version: 3 }
    }))
  })

  it.each([
    [task("returned", {}), 'no template for notification "returned"'],
    [task("refunded", { currency: "EUR" }), "details.amountCents is missing"],
    [task("shipped", { carrier: "DHL" }), "details.trackingNumber is missing"],
    [task("confirmed", { totalCents: 12.5, currency: "EUR" }), "details.totalCents is missing"],
    [task("confirmed", { totalCents: 100, currency: "EURO" }), "details.currency EURO is not a currency code"],
    [{ ...task("delivered", {}), customerId: "" }, "customerId is empty"]
  ])("refuses what it cannot render, saying why (%#)", (input, reason) => {
    expect(renderNotification(input)).toEqual(Either.left(reason))
  })
})
