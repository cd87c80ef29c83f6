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
  Pay: { readonly amountCents: number; readonly method: string; readonly at: string }
  Ship: { readonly carrier: string; readonly trackingNumber: string; readonly at: string }
  Deliver: { readonly at: string }
  Cancel: { readonly reason: string; readonly at: string }
}>

export const OrderCommand = Data.taggedEnum<OrderCommand>()
