/**
 * Commands of the Payment aggregate (one per order; the stream id is the order id). `attempt` names
 * the payment attempt a command is about. `at` is the moment the command was accepted, given by the
 * shell.
 */
import { Data } from "effect"

export type PaymentCommand = Data.TaggedEnum<{
  Request: {
    readonly attempt: number
    readonly paymentId: string
    readonly amountCents: number
    readonly currency: string
    readonly method: string
    readonly at: string
  }
  RecordAuthorization: { readonly attempt: number; readonly authorizationId: string; readonly at: string }
  RecordCapture: { readonly attempt: number; readonly at: string }
  RecordDecline: { readonly attempt: number; readonly reason: string; readonly at: string }
  RecordTimeout: { readonly attempt: number; readonly at: string }
  RecordVoid: { readonly attempt: number; readonly at: string }
  RecordRefund: { readonly attempt: number; readonly amountCents: number; readonly at: string }
}>

export const PaymentCommand = Data.taggedEnum<PaymentCommand>()
