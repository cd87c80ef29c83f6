/** Events of the Order aggregate: Effect Schemas, each with a schema version in the catalogue. */
import { Schema } from "effect"
import { makeEventCatalog } from "../events.js"
import { OrderLine } from "./values.js"

/** Event timestamps come in with the command (the decider has no clock); ISO-8601 strings. */
const Instant = Schema.String

export const OrderPlaced = Schema.TaggedStruct("OrderPlaced", {
  customerId: Schema.String,
  currency: Schema.String,
  lines: Schema.Array(OrderLine),
  placedAt: Instant
})
export const ItemAdded = Schema.TaggedStruct("ItemAdded", {
  sku: Schema.String,
  quantity: Schema.Number,
  unitPriceCents: Schema.Number
})
export const ItemRemoved = Schema.TaggedStruct("ItemRemoved", { sku: Schema.String })
export const OrderConfirmed = Schema.TaggedStruct("OrderConfirmed", { confirmedAt: Instant })
/** Payment asked for; `attempt` counts the requests of this order (a declined one may be paid again). */
export const PaymentRequested = Schema.TaggedStruct("PaymentRequested", {
  attempt: Schema.Int,
  amountCents: Schema.Number,
  method: Schema.String,
  requestedAt: Instant
})
export const PaymentDeclined = Schema.TaggedStruct("PaymentDeclined", {
  attempt: Schema.Int,
  reason: Schema.String,
  declinedAt: Instant
})
/**
 * Schema history: v1 {amountCents, method, paidAt}; v2 added `installments` (v1 payments were made
 * at once: 1); v3 renamed `method` to `paymentMethod`. Stored events keep the version they were
 * written with; the upcasters below lift them when they are read.
 */
export const OrderPaid = Schema.TaggedStruct("OrderPaid", {
  amountCents: Schema.Number,
  paymentMethod: Schema.String,
  installments: Schema.Int,
  paidAt: Instant
})
export const OrderShipped = Schema.TaggedStruct("OrderShipped", {
  carrier: Schema.String,
  trackingNumber: Schema.String,
  shippedAt: Instant
})
export const OrderDelivered = Schema.TaggedStruct("OrderDelivered", { deliveredAt: Instant })
export const OrderCancelled = Schema.TaggedStruct("OrderCancelled", {
  reason: Schema.String,
  cancelledAt: Instant
})

export const OrderRefunded = Schema.TaggedStruct("OrderRefunded", {
  amountCents: Schema.Number,
  refundedAt: Instant
})

export const OrderEvent = Schema.Union(
  OrderPlaced,
  ItemAdded,
  ItemRemoved,
  OrderConfirmed,
  PaymentRequested,
  PaymentDeclined,
  OrderPaid,
  OrderShipped,
  OrderDelivered,
  OrderCancelled,
  OrderRefunded
)
export type OrderEvent = typeof OrderEvent.Type

export const orderEvents = makeEventCatalog(OrderEvent, {
  OrderPlaced: { schemaVersion: 1 },
  ItemAdded: { schemaVersion: 1 },
  ItemRemoved: { schemaVersion: 1 },
  OrderConfirmed: { schemaVersion: 1 },
  PaymentRequested: { schemaVersion: 1 },
  PaymentDeclined: { schemaVersion: 1 },
  OrderPaid: {
    schemaVersion: 3,
    upcasters: {
      1: (data) => ({ ...data, installments: 1 }),
      2: ({ method, ...rest }) => ({ ...rest, paymentMethod: method })
    }
  },
  OrderShipped: { schemaVersion: 1 },
  OrderDelivered: { schemaVersion: 1 },
  OrderCancelled: { schemaVersion: 1 },
  OrderRefunded: { schemaVersion: 1 }
})
