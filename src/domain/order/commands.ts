/** Commands of the Order aggregate. `at` is the moment the command was accepted, given by the shell. */
import { Data } from "effect"
import type { OrderLine } from "./values.js"

export type OrderCommand = Data.TaggedEnum<{
  PlaceOrder: {
    readonly customerId: string
    readonly currency: string
    readonly lines: ReadonlyArray<OrderLine>
    readonly at: string
  }
  AddItem: { readonly sku: string; readonly quantity: number; readonly unitPriceCents: number; readonly at: string }
  RemoveItem: { readonly sku: string; readonly at: string }
  Confirm: { readonly at: string }
  /** The customer asks to pay: the fulfilment saga takes it to the payment provider. */
  Pay: { readonly amountCents: number; readonly method: string; readonly at: string }
  /** The provider captured the payment of this attempt (sent by the fulfilment saga). */
  RecordPayment: { readonly attempt: number; readonly at: string }
  /** The provider declined this attempt, or did not answer in time (sent by the fulfilment saga). */
  DeclinePayment: { readonly attempt: number; readonly reason: string; readonly at: string }
  /** The captured payment of a cancelled order went back to the customer (sent by the fulfilment saga). */
  RecordRefund: { readonly amountCents: number; readonly at: string }
  Ship: { readonly carrier: string; readonly trackingNumber: string; readonly at: string }
  Deliver: { readonly at: string }
  Cancel: { readonly reason: string; readonly at: string }
}>

export const OrderCommand = Data.taggedEnum<OrderCommand>()
