/** Events of the Inventory aggregate: Effect Schemas, each with a schema version in the catalogue. */
import { Schema } from "effect"
import { makeEventCatalog } from "../events.js"

/** Event timestamps come in with the command (the decider has no clock); ISO-8601 strings. */
const Instant = Schema.String

export const StockSet = Schema.TaggedStruct("StockSet", { onHand: Schema.Int, setAt: Instant })
export const StockReserved = Schema.TaggedStruct("StockReserved", {
  orderId: Schema.String,
  quantity: Schema.Int,
  reservedAt: Instant
})
export const StockReleased = Schema.TaggedStruct("StockReleased", {
  orderId: Schema.String,
  quantity: Schema.Int,
  releasedAt: Instant
})
/** The reservation became a stock movement: the units left the warehouse. */
export const StockShipped = Schema.TaggedStruct("StockShipped", {
  orderId: Schema.String,
  quantity: Schema.Int,
  shippedAt: Instant
})

export const InventoryEvent = Schema.Union(StockSet, StockReserved, StockReleased, StockShipped)
export type InventoryEvent = typeof InventoryEvent.Type

export const inventoryEvents = makeEventCatalog(InventoryEvent, {
  StockSet: { schemaVersion: 1 },
  StockReserved: { schemaVersion: 1 },
  StockReleased: { schemaVersion: 1 },
  StockShipped: { schemaVersion: 1 }
})
