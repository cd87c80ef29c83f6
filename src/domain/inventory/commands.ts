/**
 * Commands of the Inventory aggregate (one per SKU; the stream id is the SKU). `at` is the moment
 * the command was accepted, given by the shell.
 */
import { Data } from "effect"

export type InventoryCommand = Data.TaggedEnum<{
  SetStock: { readonly onHand: number; readonly at: string }
  Reserve: { readonly orderId: string; readonly quantity: number; readonly at: string }
  Release: { readonly orderId: string; readonly at: string }
  Commit: { readonly orderId: string; readonly at: string }
}>

export const InventoryCommand = Data.taggedEnum<InventoryCommand>()
