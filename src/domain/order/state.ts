/** The Order's state and its event handler (`evolve`). */
import type { OrderEvent } from "./events.js"
import type { OrderLine } from "./values.js"

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
      return { ...state, status: "paid", payment: { amountCents: event.amountCents, method: event.method } }
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
