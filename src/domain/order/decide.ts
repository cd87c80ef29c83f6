/** The Order's command handler: the business rules, as a pure function of command and state. */
import { Either } from "effect"
import { type DomainError, NotCreated, RuleViolated } from "../aggregate.js"
import type { OrderCommand } from "./commands.js"
import type { OrderEvent } from "./events.js"
import type { OrderState, OrderStatus } from "./state.js"
import { MAX_LINES, MAX_QUANTITY, MIN_QUANTITY, type OrderLine } from "./values.js"

/** Every rule the decider can refuse a command with; the name travels to clients as is. */
export type OrderRule =
  | "order-already-placed"
  | "order-needs-a-line"
  | "too-many-lines"
  | "quantity-out-of-range"
  | "duplicate-sku"
  | "unit-price-mismatch"
  | "sku-not-in-order"
  | "lines-locked-after-confirmation"
  | "confirm-only-when-placed"
  | "pay-only-when-confirmed"
  | "payment-in-progress"
  | "amount-must-equal-total"
  | "no-payment-pending"
  | "nothing-to-refund"
  | "ship-only-when-paid"
  | "deliver-only-when-shipped"
  | "no-cancel-after-shipping"
  | "order-cancelled"

type Decision = Either.Either<ReadonlyArray<OrderEvent>, DomainError>

const refuse = (rule: OrderRule, message: string): Decision => Either.left(new RuleViolated({ rule, message }))
const emit = (...events: ReadonlyArray<OrderEvent>): Decision => Either.right(events)

const quantityInRange = (quantity: number) =>
  Number.isInteger(quantity) && quantity >= MIN_QUANTITY && quantity <= MAX_QUANTITY

const checkLines = (lines: ReadonlyArray<OrderLine>): Decision | undefined => {
  if (lines.length === 0) return refuse("order-needs-a-line", "an order has at least one line")
  if (lines.length > MAX_LINES) return refuse("too-many-lines", `an order has at most ${MAX_LINES} lines`)
  const seen = new Set<string>()
  for (const line of lines) {
    if (!quantityInRange(line.quantity)) {
      return refuse("quantity-out-of-range", `quantity of ${line.sku} must be from ${MIN_QUANTITY} to ${MAX_QUANTITY}`)
    }
    if (seen.has(line.sku)) return refuse("duplicate-sku", `${line.sku} appears on more than one line`)
    seen.add(line.sku)
  }
  return undefined
}

/** Lines may change while the order is placed; before that it does not exist, after that they are locked. */
const linesEditable = (status: OrderStatus): Decision | undefined =>
  status === "placed"
    ? undefined
    : status === "cancelled"
    ? refuse("order-cancelled", "the order is cancelled")
    : refuse("lines-locked-after-confirmation", "lines change only before the order is confirmed")

const noPaymentPending = (state: OrderState, attempt: number): Decision =>
  state.status === "cancelled"
    ? refuse("order-cancelled", "the order is cancelled")
    : refuse("no-payment-pending", `payment attempt ${attempt} is not pending; the order is ${state.status}`)

export const decideOrder = (command: OrderCommand, state: OrderState): Decision => {
  if (command._tag === "PlaceOrder") {
    if (state.status !== "none") return refuse("order-already-placed", "this order has already been placed")
    return checkLines(command.lines) ??
      emit({
        _tag: "OrderPlaced",
        customerId: command.customerId,
        currency: command.currency,
        lines: command.lines,
        placedAt: command.at
      })
  }
  if (state.status === "none") return Either.left(new NotCreated({ message: "no order has been placed under this id" }))

  switch (command._tag) {
    case "AddItem": {
      const locked = linesEditable(state.status)
      if (locked) return locked
      const existing = state.lines.find((line) => line.sku === command.sku)
      if (existing === undefined) {
        if (state.lines.length >= MAX_LINES) return refuse("too-many-lines", `an order has at most ${MAX_LINES} lines`)
        if (!quantityInRange(command.quantity)) {
          return refuse("quantity-out-of-range", `quantity must be from ${MIN_QUANTITY} to ${MAX_QUANTITY}`)
        }
      } else {
        if (existing.unitPriceCents !== command.unitPriceCents) {
          return refuse(
            "unit-price-mismatch",
            `${command.sku} is already on the order at ${existing.unitPriceCents} cents; remove it to change its price`
          )
        }
        if (!quantityInRange(existing.quantity + command.quantity)) {
          return refuse(
            "quantity-out-of-range",
            `${command.sku} would reach ${existing.quantity + command.quantity}; a line holds ${MIN_QUANTITY} to ${MAX_QUANTITY}`
          )
        }
      }
      return emit({
        _tag: "ItemAdded",
        sku: command.sku,
        quantity: command.quantity,
        unitPriceCents: command.unitPriceCents
      })
    }
    case "RemoveItem": {
      const locked = linesEditable(state.status)
      if (locked) return locked
      if (!state.lines.some((line) => line.sku === command.sku)) {
        return refuse("sku-not-in-order", `${command.sku} is not on the order`)
      }
      if (state.lines.length === 1) {
        return refuse("order-needs-a-line", "the last line cannot be removed; cancel the order instead")
      }
      return emit({ _tag: "ItemRemoved", sku: command.sku })
    }
    case "Confirm":
      if (state.status === "cancelled") return refuse("order-cancelled", "the order is cancelled")
      if (state.status !== "placed") return refuse("confirm-only-when-placed", `the order is already ${state.status}`)
      return emit({ _tag: "OrderConfirmed", confirmedAt: command.at })
    case "Pay":
      if (state.status === "cancelled") return refuse("order-cancelled", "the order is cancelled")
      if (state.status === "paymentPending") {
        return refuse("payment-in-progress", `payment attempt ${state.paymentAttempts} is still being processed`)
      }
      if (state.status !== "confirmed") {
        return refuse(
          "pay-only-when-confirmed",
          state.status === "placed" ? "the order must be confirmed before it is paid" : `the order is already ${state.status}`
        )
      }
      if (command.amountCents !== state.totalCents) {
        return refuse(
          "amount-must-equal-total",
          `the amount ${command.amountCents} does not equal the order total ${state.totalCents}`
        )
      }
      return emit({
        _tag: "PaymentRequested",
        attempt: state.paymentAttempts + 1,
        amountCents: command.amountCents,
        method: command.method,
        requestedAt: command.at
      })
    case "RecordPayment": {
      const pending = state.pendingPayment
      // Recorded before (the saga repeats what it cannot know it finished).
      if (state.payment !== null && pending === null && state.paymentAttempts === command.attempt) return emit()
      if (state.status === "cancelled") return refuse("order-cancelled", "the order is cancelled")
      if (pending === null || pending.attempt !== command.attempt) return noPaymentPending(state, command.attempt)
      return emit({
        _tag: "OrderPaid",
        amountCents: pending.amountCents,
        paymentMethod: pending.method,
        installments: 1,
        paidAt: command.at
      })
    }
    case "DeclinePayment": {
      if (state.lastDecline?.attempt === command.attempt) return emit()
      const pending = state.pendingPayment
      if (pending === null || pending.attempt !== command.attempt) return noPaymentPending(state, command.attempt)
      return emit({ _tag: "PaymentDeclined", attempt: command.attempt, reason: command.reason, declinedAt: command.at })
    }
    case "RecordRefund":
      if (state.refundedCents !== null) return emit()
      // A payment may be captured for an order cancelled while it was pending: it is refunded too.
      if (state.status !== "cancelled" || (state.payment === null && state.pendingPayment === null)) {
        return refuse("nothing-to-refund", `only a cancelled order with a payment is refunded; this one is ${state.status}`)
      }
      return emit({ _tag: "OrderRefunded", amountCents: command.amountCents, refundedAt: command.at })
    case "Ship":
      if (state.status === "cancelled") return refuse("order-cancelled", "the order is cancelled")
      if (state.status !== "paid") return refuse("ship-only-when-paid", `the order is ${state.status}, not paid`)
      return emit({
        _tag: "OrderShipped",
        carrier: command.carrier,
        trackingNumber: command.trackingNumber,
        shippedAt: command.at
      })
    case "Deliver":
      if (state.status === "cancelled") return refuse("order-cancelled", "the order is cancelled")
      if (state.status !== "shipped") return refuse("deliver-only-when-shipped", `the order is ${state.status}, not shipped`)
      return emit({ _tag: "OrderDelivered", deliveredAt: command.at })
    case "Cancel":
      if (state.status === "cancelled") return refuse("order-cancelled", "the order is already cancelled")
      if (state.status === "shipped" || state.status === "delivered") {
        return refuse("no-cancel-after-shipping", `the order is already ${state.status}`)
      }
      return emit({ _tag: "OrderCancelled", reason: command.reason, cancelledAt: command.at })
  }
}
