import { describe, expect, it } from "vitest"
import { OrderCommand, type OrderEvent, orderAggregate } from "../../../src/domain/order/index.js"
import { deciderSpec } from "../../../src/testing/index.js"

const spec = deciderSpec(orderAggregate)
const at = "2026-01-02T03:04:05.000Z"
const customerId = "5b0f6c1e-2a52-4a8e-9d5e-3c4b1a2f6e70"
const line = (sku: string, quantity = 1, unitPriceCents = 1000) => ({ sku, quantity, unitPriceCents })

const placed: OrderEvent = { _tag: "OrderPlaced", customerId, currency: "EUR", lines: [line("A", 2, 1500)], placedAt: at }
const confirmed: OrderEvent = { _tag: "OrderConfirmed", confirmedAt: at }
const requested = (attempt: number): OrderEvent => ({
  _tag: "PaymentRequested",
  attempt,
  amountCents: 3000,
  method: "card",
  requestedAt: at
})
const declined = (attempt: number): OrderEvent => ({ _tag: "PaymentDeclined", attempt, reason: "card declined", declinedAt: at })
const paid: OrderEvent = { _tag: "OrderPaid", amountCents: 3000, paymentMethod: "card", installments: 1, paidAt: at }
const shipped: OrderEvent = { _tag: "OrderShipped", carrier: "DHL", trackingNumber: "JD0001", shippedAt: at }
const delivered: OrderEvent = { _tag: "OrderDelivered", deliveredAt: at }
const cancelled: OrderEvent = { _tag: "OrderCancelled", reason: "changed my mind", cancelledAt: at }

const place = (lines = [line("A", 2, 1500)]) => OrderCommand.PlaceOrder({ customerId, currency: "EUR", lines, at })

describe("Order decider", () => {
  describe("PlaceOrder", () => {
    it("places a new order", () => spec.given([]).when(place()).then([placed]))
    it("needs at least one line", () => spec.given([]).when(place([])).thenRefuses("order-needs-a-line"))
    it("takes at most 100 lines", () =>
      spec.given([]).when(place(Array.from({ length: 101 }, (_, i) => line(`S${i}`)))).thenRefuses("too-many-lines"))
    it("takes exactly 100 lines", () => {
      const lines = Array.from({ length: 100 }, (_, i) => line(`S${i}`))
      spec.given([]).when(place(lines)).then([{ ...placed, lines } as OrderEvent])
    })
    it("refuses quantity 0", () => spec.given([]).when(place([line("A", 0)])).thenRefuses("quantity-out-of-range"))
    it("refuses quantity 1001", () => spec.given([]).when(place([line("A", 1001)])).thenRefuses("quantity-out-of-range"))
    it("refuses a SKU on two lines", () =>
      spec.given([]).when(place([line("A"), line("A")])).thenRefuses("duplicate-sku"))
    it("cannot place twice", () => spec.given([placed]).when(place()).thenRefuses("order-already-placed"))
  })

  describe("commands before the order exists", () => {
    for (
      const command of [
        OrderCommand.AddItem({ ...line("B"), at }),
        OrderCommand.RemoveItem({ sku: "A", at }),
        OrderCommand.Confirm({ at }),
        OrderCommand.Pay({ amountCents: 1, method: "card", at }),
        OrderCommand.Ship({ carrier: "DHL", trackingNumber: "1", at }),
        OrderCommand.Deliver({ at }),
        OrderCommand.Cancel({ reason: "x", at })
      ]
    ) {
      it(`${command._tag} → not created`, () => spec.given([]).when(command).thenNotCreated())
    }
  })

  describe("AddItem", () => {
    it("adds a line", () =>
      spec.given([placed]).when(OrderCommand.AddItem({ ...line("B", 3, 200), at }))
        .then([{ _tag: "ItemAdded", sku: "B", quantity: 3, unitPriceCents: 200 }]))
    it("adds to an existing line at the same price", () =>
      spec.given([placed]).when(OrderCommand.AddItem({ ...line("A", 3, 1500), at }))
        .then([{ _tag: "ItemAdded", sku: "A", quantity: 3, unitPriceCents: 1500 }]))
    it("refuses an existing SKU at another price", () =>
      spec.given([placed]).when(OrderCommand.AddItem({ ...line("A", 1, 999), at })).thenRefuses("unit-price-mismatch"))
    it("refuses to push a line past 1000", () =>
      spec.given([placed]).when(OrderCommand.AddItem({ ...line("A", 999, 1500), at }))
        .thenRefuses("quantity-out-of-range"))
    it("refuses quantity 0", () =>
      spec.given([placed]).when(OrderCommand.AddItem({ ...line("B", 0), at })).thenRefuses("quantity-out-of-range"))
    it("refuses a 101st line", () => {
      const full: OrderEvent = { ...placed, lines: Array.from({ length: 100 }, (_, i) => line(`S${i}`)) } as OrderEvent
      spec.given([full]).when(OrderCommand.AddItem({ ...line("NEW"), at })).thenRefuses("too-many-lines")
    })
    it("is locked after confirmation", () =>
      spec.given([placed, confirmed]).when(OrderCommand.AddItem({ ...line("B"), at }))
        .thenRefuses("lines-locked-after-confirmation"))
    it("is refused on a cancelled order", () =>
      spec.given([placed, cancelled]).when(OrderCommand.AddItem({ ...line("B"), at })).thenRefuses("order-cancelled"))
  })

  describe("RemoveItem", () => {
    const twoLines: OrderEvent = { ...placed, lines: [line("A"), line("B")] } as OrderEvent
    it("removes a line", () =>
      spec.given([twoLines]).when(OrderCommand.RemoveItem({ sku: "B", at })).then([{ _tag: "ItemRemoved", sku: "B" }]))
    it("refuses an unknown SKU", () =>
      spec.given([twoLines]).when(OrderCommand.RemoveItem({ sku: "Z", at })).thenRefuses("sku-not-in-order"))
    it("keeps the last line", () =>
      spec.given([placed]).when(OrderCommand.RemoveItem({ sku: "A", at })).thenRefuses("order-needs-a-line"))
    it("is locked after confirmation", () =>
      spec.given([twoLines, confirmed]).when(OrderCommand.RemoveItem({ sku: "B", at }))
        .thenRefuses("lines-locked-after-confirmation"))
  })

  describe("Confirm", () => {
    it("confirms a placed order", () => spec.given([placed]).when(OrderCommand.Confirm({ at })).then([confirmed]))
    it("confirms once", () =>
      spec.given([placed, confirmed]).when(OrderCommand.Confirm({ at })).thenRefuses("confirm-only-when-placed"))
    it("not when cancelled", () =>
      spec.given([placed, cancelled]).when(OrderCommand.Confirm({ at })).thenRefuses("order-cancelled"))
  })

  describe("Pay", () => {
    const pay = (amountCents: number) => OrderCommand.Pay({ amountCents, method: "card", at })
    it("asks to pay the total of a confirmed order", () =>
      spec.given([placed, confirmed]).when(pay(3000)).then([requested(1)]))
    it("counts added items in the total", () =>
      spec.given([placed, { _tag: "ItemAdded", sku: "B", quantity: 2, unitPriceCents: 250 }, confirmed]).when(pay(3500))
        .then([{ ...requested(1), amountCents: 3500 } as OrderEvent]))
    it("refuses an amount other than the total", () =>
      spec.given([placed, confirmed]).when(pay(2999)).thenRefuses("amount-must-equal-total"))
    it("only when confirmed", () => spec.given([placed]).when(pay(3000)).thenRefuses("pay-only-when-confirmed"))
    it("not while a payment is pending", () =>
      spec.given([placed, confirmed, requested(1)]).when(pay(3000)).thenRefuses("payment-in-progress"))
    it("again after a decline, as the next attempt", () =>
      spec.given([placed, confirmed, requested(1), declined(1)]).when(pay(3000)).then([requested(2)]))
    it("once paid, no more", () =>
      spec.given([placed, confirmed, requested(1), paid]).when(pay(3000)).thenRefuses("pay-only-when-confirmed"))
    it("not when cancelled", () =>
      spec.given([placed, confirmed, cancelled]).when(pay(3000)).thenRefuses("order-cancelled"))
  })

  describe("the payment's outcome (from the fulfilment saga)", () => {
    const record = (attempt: number) => OrderCommand.RecordPayment({ attempt, at })
    const decline = (attempt: number) => OrderCommand.DeclinePayment({ attempt, reason: "card declined", at })
    it("a captured attempt pays the order", () =>
      spec.given([placed, confirmed, requested(1)]).when(record(1)).then([paid]))
    it("recorded twice, once", () =>
      spec.given([placed, confirmed, requested(1), paid]).when(record(1)).then([]))
    it("not for another attempt", () =>
      spec.given([placed, confirmed, requested(1)]).when(record(2)).thenRefuses("no-payment-pending"))
    it("not for a cancelled order", () =>
      spec.given([placed, confirmed, requested(1), cancelled]).when(record(1)).thenRefuses("order-cancelled"))
    it("a declined attempt returns the order to confirmed, with the reason", () => {
      spec.given([placed, confirmed, requested(1)]).when(decline(1)).then([declined(1)])
      const state = [placed, confirmed, requested(1), declined(1)].reduce(orderAggregate.evolve, orderAggregate.initialState)
      expect(state).toMatchObject({ status: "confirmed", lastDecline: { attempt: 1, reason: "card declined" }, pendingPayment: null })
    })
    it("declined twice, once", () =>
      spec.given([placed, confirmed, requested(1), declined(1)]).when(decline(1)).then([]))
    it("a decline without a pending payment is refused", () =>
      spec.given([placed, confirmed]).when(decline(1)).thenRefuses("no-payment-pending"))
    it("a paid order forgets its last decline", () => {
      const state = [placed, confirmed, requested(1), declined(1), requested(2), { ...paid }]
        .reduce(orderAggregate.evolve, orderAggregate.initialState)
      expect(state).toMatchObject({ status: "paid", lastDecline: null, paymentAttempts: 2 })
    })
  })

  describe("RecordRefund", () => {
    const refund = OrderCommand.RecordRefund({ amountCents: 3000, at })
    const refunded: OrderEvent = { _tag: "OrderRefunded", amountCents: 3000, refundedAt: at }
    it("records the refund of a paid, cancelled order", () =>
      spec.given([placed, confirmed, requested(1), paid, cancelled]).when(refund).then([refunded]))
    it("once", () => spec.given([placed, confirmed, requested(1), paid, cancelled, refunded]).when(refund).then([]))
    it("for an order cancelled while its payment was pending (captured before the saga saw the cancel)", () =>
      spec.given([placed, confirmed, requested(1), cancelled]).when(refund).then([refunded]))
    it("not for an order never paid", () =>
      spec.given([placed, confirmed, cancelled]).when(refund).thenRefuses("nothing-to-refund"))
    it("not for an order not cancelled", () =>
      spec.given([placed, confirmed, requested(1), paid]).when(refund).thenRefuses("nothing-to-refund"))
  })

  describe("Ship", () => {
    const ship = OrderCommand.Ship({ carrier: "DHL", trackingNumber: "JD0001", at })
    it("ships a paid order", () => spec.given([placed, confirmed, paid]).when(ship).then([shipped]))
    it("only when paid", () => spec.given([placed, confirmed]).when(ship).thenRefuses("ship-only-when-paid"))
    it("once", () => spec.given([placed, confirmed, paid, shipped]).when(ship).thenRefuses("ship-only-when-paid"))
    it("not when cancelled", () =>
      spec.given([placed, confirmed, paid, cancelled]).when(ship).thenRefuses("order-cancelled"))
  })

  describe("Deliver", () => {
    const deliver = OrderCommand.Deliver({ at })
    it("delivers a shipped order", () =>
      spec.given([placed, confirmed, paid, shipped]).when(deliver).then([delivered]))
    it("only when shipped", () =>
      spec.given([placed, confirmed, paid]).when(deliver).thenRefuses("deliver-only-when-shipped"))
    it("once", () =>
      spec.given([placed, confirmed, paid, shipped, delivered]).when(deliver).thenRefuses("deliver-only-when-shipped"))
  })

  describe("Cancel", () => {
    const cancel = OrderCommand.Cancel({ reason: "changed my mind", at })
    it("cancels a placed order", () => spec.given([placed]).when(cancel).then([cancelled]))
    it("cancels a confirmed order", () => spec.given([placed, confirmed]).when(cancel).then([cancelled]))
    it("cancels an order whose payment is pending", () =>
      spec.given([placed, confirmed, requested(1)]).when(cancel).then([cancelled]))
    it("cancels a paid order", () => spec.given([placed, confirmed, paid]).when(cancel).then([cancelled]))
    it("not after shipping", () =>
      spec.given([placed, confirmed, paid, shipped]).when(cancel).thenRefuses("no-cancel-after-shipping"))
    it("not after delivery", () =>
      spec.given([placed, confirmed, paid, shipped, delivered]).when(cancel).thenRefuses("no-cancel-after-shipping"))
    it("once", () => spec.given([placed, cancelled]).when(cancel).thenRefuses("order-cancelled"))
  })
})
