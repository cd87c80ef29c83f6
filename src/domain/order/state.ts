/** The Order's state and its event handler (`evolve`). */
import { Either, ParseResult, Schema } from "effect"
import type { SnapshotCodec } from "../aggregate.js"
import type { OrderEvent } from "./events.js"
import { OrderLine } from "./values.js"

export type OrderStatus =
  | "none"
  | "placed"
  | "confirmed"
  | "paymentPending"
  | "paid"
  | "shipped"
  | "delivered"
  | "cancelled"

/** A payment asked for and not yet captured or declined. */
export interface PaymentRequest {
  readonly attempt: number
  readonly amountCents: number
  readonly method: string
}

export interface OrderState {
  readonly status: OrderStatus
  readonly customerId: string | null
  readonly currency: string | null
  readonly lines: ReadonlyArray<OrderLine>
  readonly totalCents: number
  /** Payment requests made so far: the next one is attempt `paymentAttempts + 1`. */
  readonly paymentAttempts: number
  readonly pendingPayment: PaymentRequest | null
  /** Why the last attempt failed, shown until a payment succeeds. */
  readonly lastDecline: { readonly attempt: number; readonly reason: string } | null
  readonly payment: { readonly amountCents: number; readonly method: string } | null
  readonly refundedCents: number | null
  readonly shipment: { readonly carrier: string; readonly trackingNumber: string } | null
  readonly cancelReason: string | null
}

export const initialOrderState: OrderState = {
  status: "none",
  customerId: null,
  currency: null,
  lines: [],
  totalCents: 0,
  paymentAttempts: 0,
  pendingPayment: null,
  lastDecline: null,
  payment: null,
  refundedCents: null,
  shipment: null,
  cancelReason: null
}

export const totalOf = (lines: ReadonlyArray<OrderLine>): number =>
  lines.reduce((sum, line) => sum + line.quantity * line.unitPriceCents, 0)

const withLines = (state: OrderState, lines: ReadonlyArray<OrderLine>): OrderState => ({
  ...state,
  lines,
  totalCents: totalOf(lines)
})

export const evolveOrder = (state: OrderState, event: OrderEvent): OrderState => {
  switch (event._tag) {
    case "OrderPlaced":
      return withLines(
        { ...state, status: "placed", customerId: event.customerId, currency: event.currency },
        event.lines
      )
    case "ItemAdded": {
      const existing = state.lines.find((line) => line.sku === event.sku)
      return withLines(
        state,
        existing === undefined
          ? [...state.lines, { sku: event.sku, quantity: event.quantity, unitPriceCents: event.unitPriceCents }]
          : state.lines.map((line) =>
            line.sku === event.sku ? { ...line, quantity: line.quantity + event.quantity } : line
          )
      )
    }
    case "ItemRemoved":
      return withLines(state, state.lines.filter((line) => line.sku !== event.sku))
    case "OrderConfirmed":
      return { ...state, status: "confirmed" }
    case "PaymentRequested":
      return {
        ...state,
        status: "paymentPending",
        paymentAttempts: event.attempt,
        pendingPayment: { attempt: event.attempt, amountCents: event.amountCents, method: event.method }
      }
    case "PaymentDeclined":
      // Back to confirmed, unless it was cancelled while the payment was pending.
      return {
        ...state,
        status: state.status === "paymentPending" ? "confirmed" : state.status,
        pendingPayment: null,
        lastDecline: { attempt: event.attempt, reason: event.reason }
      }
    case "OrderPaid":
      return {
        ...state,
        status: "paid",
        pendingPayment: null,
        lastDecline: null,
        payment: { amountCents: event.amountCents, method: event.paymentMethod }
      }
    case "OrderShipped":
      return {
        ...state,
        status: "shipped",
        shipment: { carrier: event.carrier, trackingNumber: event.trackingNumber }
      }
    case "OrderDelivered":
      return { ...state, status: "delivered" }
    case "OrderCancelled":
      return { ...state, status: "cancelled", cancelReason: event.reason }
    case "OrderRefunded":
      return { ...state, refundedCents: event.amountCents }
  }
}

/** The state as a schema, for snapshots. */
const OrderStateSchema = Schema.Struct({
  status: Schema.Literal("none", "placed", "confirmed", "paymentPending", "paid", "shipped", "delivered", "cancelled"),
  customerId: Schema.NullOr(Schema.String),
  currency: Schema.NullOr(Schema.String),
  lines: Schema.Array(OrderLine),
  totalCents: Schema.Number,
  paymentAttempts: Schema.Number,
  pendingPayment: Schema.NullOr(Schema.Struct({ attempt: Schema.Number, amountCents: Schema.Number, method: Schema.String })),
  lastDecline: Schema.NullOr(Schema.Struct({ attempt: Schema.Number, reason: Schema.String })),
  payment: Schema.NullOr(Schema.Struct({ amountCents: Schema.Number, method: Schema.String })),
  refundedCents: Schema.NullOr(Schema.Number),
  shipment: Schema.NullOr(Schema.Struct({ carrier: Schema.String, trackingNumber: Schema.String })),
  cancelReason: Schema.NullOr(Schema.String)
})

const decodeState = Schema.decodeUnknownEither(OrderStateSchema, { onExcessProperty: "error" })

/** Version 2: payment requests, declines and refunds; `cancellationReason` became `cancelReason`. */
export const orderSnapshots: SnapshotCodec<OrderState> = {
  schemaVersion: 2,
  encode: Schema.encodeSync(OrderStateSchema),
  decode: (stored) => Either.mapLeft(decodeState(stored), (error) => ParseResult.TreeFormatter.formatErrorSync(error))
}
