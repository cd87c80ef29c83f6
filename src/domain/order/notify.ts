/** The Order events a customer hears about, and what they are told. */
import type { Notification } from "../aggregate.js"
import type { OrderEvent } from "./events.js"
import type { OrderState } from "./state.js"

export const notifyOrder = (event: OrderEvent, state: OrderState): Notification | undefined => {
  const tell = (name: string, details: Notification["details"]): Notification => ({
    name,
    customerId: state.customerId ?? "",
    details
  })
  switch (event._tag) {
    case "OrderConfirmed":
      return tell("confirmed", { totalCents: state.totalCents, currency: state.currency ?? "" })
    case "PaymentRequested":
      return tell("payment-pending", { amountCents: event.amountCents, currency: state.currency ?? "", method: event.method })
    case "PaymentDeclined":
      return tell("payment-declined", { reason: event.reason })
    case "OrderRefunded":
      return tell("refunded", { amountCents: event.amountCents, currency: state.currency ?? "" })
    case "OrderPaid":
      return tell("paid", { amountCents: event.amountCents, currency: state.currency ?? "", method: event.paymentMethod })
    case "OrderShipped":
      return tell("shipped", { carrier: event.carrier, trackingNumber: event.trackingNumber })
    case "OrderDelivered":
      return tell("delivered", {})
    case "OrderCancelled":
      return tell("cancelled", { reason: event.reason })
    case "OrderPlaced":
    case "ItemAdded":
    case "ItemRemoved":
      return undefined
  }
}
