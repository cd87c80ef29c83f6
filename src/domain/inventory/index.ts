/** The Inventory aggregate: one per SKU (stream `inventory-<sku>`); staff only, so no owner and no notifications. */
import { type AggregateDefinition, categoryStreams } from "../aggregate.js"
import type { InventoryCommand } from "./commands.js"
import { decideInventory } from "./decide.js"
import { type InventoryEvent, inventoryEvents } from "./events.js"
import { evolveInventory, initialInventoryState, inventorySnapshots, type InventoryState } from "./state.js"

export const inventoryAggregate: AggregateDefinition<InventoryState, InventoryCommand, InventoryEvent> = {
  streamType: "inventory",
  initialState: initialInventoryState,
  decide: decideInventory,
  evolve: evolveInventory,
  events: inventoryEvents,
  // SKUs are hot and their streams long: they need snapshots, and one every 100 events (not 50) halves
  // the snapshot writes on the busiest streams for a tail of at most 99 events to fold on load.
  snapshots: { codec: inventorySnapshots, every: 100, keep: 2 },
  streamIdOf: categoryStreams("inventory")
}

export { InventoryCommand } from "./commands.js"
export type { InventoryRule } from "./decide.js"
export { InventoryEvent } from "./events.js"
export { availableOf, reservationOf, reservedOf } from "./state.js"
export type { InventoryState } from "./state.js"
export * as InventoryValues from "./values.js"
