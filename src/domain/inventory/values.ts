/**
 * Value schemas of the Inventory aggregate, shared by the events and by the HTTP edge so that the
 * rules on a value are stated once. Inventory keeps its own limits: it imports nothing from the
 * Order aggregate.
 */
import { Schema } from "effect"

export const MIN_QUANTITY = 1
export const MAX_QUANTITY = 1000
/** A billion units of one SKU: far beyond any warehouse, far inside a safe integer. */
export const MAX_ON_HAND = 1_000_000_000

export const OnHand = Schema.Int.pipe(
  Schema.between(0, MAX_ON_HAND, {
    message: () => `onHand must be a whole number from 0 to ${MAX_ON_HAND}`
  })
)

export const Quantity = Schema.Int.pipe(
  Schema.between(MIN_QUANTITY, MAX_QUANTITY, {
    message: () => `quantity must be a whole number from ${MIN_QUANTITY} to ${MAX_QUANTITY}`
  })
)

/** Reservations by order id: how many units of this SKU each order holds. */
export const Reservations = Schema.Record({ key: Schema.String, value: Schema.Int })
export type Reservations = typeof Reservations.Type
