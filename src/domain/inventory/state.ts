/** The Inventory's state and its event handler (`evolve`). */
import { Either, ParseResult, Schema } from "effect"
import type { SnapshotCodec } from "../aggregate.js"
import type { InventoryEvent } from "./events.js"
import { Reservations } from "./values.js"

export interface InventoryState {
  /** Stock was ever set for this SKU. */
  readonly known: boolean
  readonly onHand: number
  /** Units held per order id. */
  readonly reservations: Reservations
}

export const initialInventoryState: InventoryState = { known: false, onHand: 0, reservations: {} }

/**
 * The units an order holds, if any. Own properties only: an order id such as `constructor` must not
 * find something on the object's prototype.
 */
export const reservationOf = (state: InventoryState, orderId: string): number | undefined =>
  Object.hasOwn(state.reservations, orderId) ? state.reservations[orderId] : undefined

export const reservedOf = (state: InventoryState): number =>
  Object.values(state.reservations).reduce((sum, quantity) => sum + quantity, 0)

export const availableOf = (state: InventoryState): number => state.onHand - reservedOf(state)

const withoutReservation = (reservations: Reservations, orderId: string): Reservations =>
  Object.fromEntries(Object.entries(reservations).filter(([id]) => id !== orderId))

export const evolveInventory = (state: InventoryState, event: InventoryEvent): InventoryState => {
  switch (event._tag) {
    case "StockSet":
      return { ...state, known: true, onHand: event.onHand }
    case "StockReserved":
      return { ...state, reservations: { ...state.reservations, [event.orderId]: event.quantity } }
    case "StockReleased":
      return { ...state, reservations: withoutReservation(state.reservations, event.orderId) }
    case "StockShipped":
      return {
        ...state,
        onHand: state.onHand - event.quantity,
        reservations: withoutReservation(state.reservations, event.orderId)
      }
  }
}

/** The state as a schema, for snapshots. */
const InventoryStateSchema = Schema.Struct({
  known: Schema.Boolean,
  onHand: Schema.Int,
  reservations: Reservations
})

const decodeState = Schema.decodeUnknownEither(InventoryStateSchema, { onExcessProperty: "error" })

export const inventorySnapshots: SnapshotCodec<InventoryState> = {
  schemaVersion: 1,
  encode: Schema.encodeSync(InventoryStateSchema),
  decode: (stored) => Either.mapLeft(decodeState(stored), (error) => ParseResult.TreeFormatter.formatErrorSync(error))
}
