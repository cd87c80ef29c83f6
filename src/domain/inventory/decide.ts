/** The Inventory's command handler: the business rules, as a pure function of command and state. */
import { Either } from "effect"
import { type DomainError, RuleViolated } from "../aggregate.js"
import type { InventoryCommand } from "./commands.js"
import type { InventoryEvent } from "./events.js"
import { availableOf, type InventoryState, reservationOf, reservedOf } from "./state.js"
import { MAX_ON_HAND, MAX_QUANTITY, MIN_QUANTITY } from "./values.js"

/** Every rule the decider can refuse a command with; the name travels to clients as is. */
export type InventoryRule =
  | "on-hand-out-of-range"
  | "on-hand-below-reserved"
  | "quantity-out-of-range"
  | "reservation-exists"
  | "insufficient-stock"
  | "no-reservation"

type Decision = Either.Either<ReadonlyArray<InventoryEvent>, DomainError>

const refuse = (rule: InventoryRule, message: string): Decision => Either.left(new RuleViolated({ rule, message }))
const emit = (...events: ReadonlyArray<InventoryEvent>): Decision => Either.right(events)
/** The command is already in effect: a repeat is accepted and changes nothing. */
const nothing: Decision = Either.right([])

/**
 * An unknown SKU is not a missing aggregate here: it simply has nothing on hand, so a reservation
 * against it is refused like any other shortage, and SetStock creates it.
 */
export const decideInventory = (command: InventoryCommand, state: InventoryState): Decision => {
  switch (command._tag) {
    case "SetStock": {
      if (!Number.isInteger(command.onHand) || command.onHand < 0 || command.onHand > MAX_ON_HAND) {
        return refuse(
          "on-hand-out-of-range",
          `onHand ${command.onHand} must be a whole number from 0 to ${MAX_ON_HAND}`
        )
      }
      const reserved = reservedOf(state)
      if (command.onHand < reserved) {
        return refuse(
          "on-hand-below-reserved",
          `on hand ${command.onHand} would be below the ${reserved} reserved; release reservations first`
        )
      }
      if (state.known && command.onHand === state.onHand) return nothing
      return emit({ _tag: "StockSet", onHand: command.onHand, setAt: command.at })
    }
    case "Reserve": {
      const { orderId, quantity } = command
      if (!Number.isInteger(quantity) || quantity < MIN_QUANTITY || quantity > MAX_QUANTITY) {
        return refuse("quantity-out-of-range", `quantity ${quantity} must be from ${MIN_QUANTITY} to ${MAX_QUANTITY}`)
      }
      const held = reservationOf(state, orderId)
      if (held !== undefined) {
        if (held === quantity) return nothing
        return refuse(
          "reservation-exists",
          `order ${orderId} already holds ${held}, not ${quantity}; release it before reserving again`
        )
      }
      const available = availableOf(state)
      if (quantity > available) {
        return refuse(
          "insufficient-stock",
          state.known
            ? `${available} available, ${quantity} asked`
            : `${available} available, ${quantity} asked (no stock was ever set)`
        )
      }
      return emit({ _tag: "StockReserved", orderId, quantity, reservedAt: command.at })
    }
    case "Release": {
      // A compensation: repeatable, and it never fails.
      const held = reservationOf(state, command.orderId)
      if (held === undefined) return nothing
      return emit({ _tag: "StockReleased", orderId: command.orderId, quantity: held, releasedAt: command.at })
    }
    case "Commit": {
      const held = reservationOf(state, command.orderId)
      if (held === undefined) {
        return refuse("no-reservation", `order ${command.orderId} holds no reservation to ship`)
      }
      return emit({ _tag: "StockShipped", orderId: command.orderId, quantity: held, shippedAt: command.at })
    }
  }
}
