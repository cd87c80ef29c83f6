/** The Order's state and its event handler (`evolve`). */
import { Either, ParseResult, Schema } from "effect"
import type { SnapshotCodec } from "../aggregate.js"
import type { OrderEvent } from "./events.js"
import { OrderLine } from "./values.js"

export type OrderStatus = "none" | "placed" | "confirmed" | "paid" | "shipped" | "delivered" | "cancelled"

export interface OrderState {
  readonly status: OrderStatus
  readonly customerId: string | null
  readonly currency: string | null
  readonly lines: ReadonlyArray<OrderLine>
  readonly totalCents: number
  readonly payment: { readonly amountCents: number; readonly method: string } | null
  readonly shipment: { readonly carrier: string; readonly trackingNumber: string } | null
  readonly cancellationReason: string | null
}

export const initialOrderState: OrderState = {
  status: "none",
  customerId: null,
  currency: null,
  lines: [],
  totalCents: 0,
  payment: null,
  shipment: null,
  cancellationReason: null
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
    case "OrderPaid":
      return { ...state, status: "paid", payment: { amountCents: event.amountCents, method: event.paymentMethod } }
    case "OrderShipped":
      return {
        ...state,
        status: "shipped",
        shipment: { carrier: event.carrier, trackingNumber: event.trackingNumber }
      }
    case "OrderDelivered":
      return { ...state, status: "delivered" }
    case "OrderCancelled":
      return { ...state, status: "cancelled", cancellationReason: event.reason }
  }
}

/** The state as a schema, for snapshots. */
const OrderStateSchema = Schema.Struct({
  status: Schema.Literal("none", "placed", "confirmed", "paid", "shipped", "delivered", "cancelled"),
  customerId: Schema.NullOr(Schema.String),
  currency: Schema.NullOr(Schema.String),
  lines: Schema.Array(OrderLine),
  totalCents: Schema.Number,
  payment: Schema.NullOr(Schema.Struct({ amountCents: Schema.Number, method: Schema.String })),
  shipment: Schema.NullOr(Schema.Struct({ carrier: Schema.String, trackingNumber: Schema.String })),
  cancellationReason: Schema.NullOr(Schema.String)
})

const decodeState = Schema.decodeUnknownEither(OrderStateSchema, { onExcessProperty: "error" })

export const orderSnapshots: SnapshotCodec<OrderState> = {
  schemaVersion: 1,
  encode: Schema.encodeSync(OrderStateSchema),
  decode: (stored) => Either.mapLeft(decodeState(stored), (error) => ParseResult.TreeFormatter.formatErrorSync(error))
}
