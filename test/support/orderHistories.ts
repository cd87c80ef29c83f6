/** Random order histories for property tests: command intents, turned into commands against the current state. */
import { FastCheck as fc } from "effect"
import { OrderCommand, type OrderState } from "../../src/domain/order/index.js"

export type Intent =
  | { readonly kind: "add"; readonly sku: string; readonly quantity: number; readonly unitPriceCents: number }
  | { readonly kind: "remove"; readonly sku: string }
  | { readonly kind: "confirm" }
  | { readonly kind: "pay"; readonly exact: boolean }
  /** The payment's outcome, as the fulfilment saga records it. */
  | { readonly kind: "captured" }
  | { readonly kind: "declined" }
  | { readonly kind: "refund" }
  | { readonly kind: "ship" }
  | { readonly kind: "deliver" }
  | { readonly kind: "cancel" }

const sku = fc.constantFrom("A", "B", "C", "D", "E")

export const intent: fc.Arbitrary<Intent> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("add" as const), sku, quantity: fc.integer({ min: 0, max: 1001 }), unitPriceCents: fc.constantFrom(0, 199, 250) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("remove" as const), sku }) },
  { weight: 1, arbitrary: fc.constant({ kind: "confirm" as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("pay" as const), exact: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: "captured" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "declined" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "refund" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "ship" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "deliver" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "cancel" as const }) }
)

export const orderScript = fc.record({
  firstLines: fc.uniqueArray(
    fc.record({ sku, quantity: fc.integer({ min: 1, max: 5 }), unitPriceCents: fc.constantFrom(0, 199, 250) }),
    { minLength: 1, maxLength: 3, selector: (line) => line.sku }
  ),
  intents: fc.array(intent, { maxLength: 30 })
})
export type OrderScript = typeof orderScript extends fc.Arbitrary<infer A> ? A : never

export const at = "2026-03-04T05:06:07.000Z"

export const placeCommand = (script: OrderScript, customerId: string) =>
  OrderCommand.PlaceOrder({ customerId, currency: "EUR", lines: script.firstLines, at })

export const toCommand = (intent: Intent, state: OrderState): OrderCommand => {
  switch (intent.kind) {
    case "add":
      return OrderCommand.AddItem({ sku: intent.sku, quantity: intent.quantity, unitPriceCents: intent.unitPriceCents, at })
    case "remove":
      return OrderCommand.RemoveItem({ sku: intent.sku, at })
    case "confirm":
      return OrderCommand.Confirm({ at })
    case "pay":
      return OrderCommand.Pay({ amountCents: intent.exact ? state.totalCents : state.totalCents + 1, method: "card", at })
    case "captured":
      return OrderCommand.RecordPayment({ attempt: state.pendingPayment?.attempt ?? state.paymentAttempts, at })
    case "declined":
      return OrderCommand.DeclinePayment({ attempt: state.pendingPayment?.attempt ?? state.paymentAttempts, reason: "card declined", at })
    case "refund":
      return OrderCommand.RecordRefund({ amountCents: state.payment?.amountCents ?? state.totalCents, at })
    case "ship":
      return OrderCommand.Ship({ carrier: "UPS", trackingNumber: "1Z999", at })
    case "deliver":
      return OrderCommand.Deliver({ at })
    case "cancel":
      return OrderCommand.Cancel({ reason: "test", at })
  }
}
