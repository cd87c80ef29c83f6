/**
 * The Payment aggregate: one per order (its id is the order's, its stream `payment-<orderId>`),
 * holding its numbered attempts; written by the fulfilment saga, so no owner and no notifications.
 */
import { type AggregateDefinition, categoryStreams } from "../aggregate.js"
import type { PaymentCommand } from "./commands.js"
import { decidePayment } from "./decide.js"
import { type PaymentEvent, paymentEvents } from "./events.js"
import { evolvePayment, initialPaymentState, paymentSnapshots, type PaymentState } from "./state.js"

export const paymentAggregate: AggregateDefinition<PaymentState, PaymentCommand, PaymentEvent> = {
  streamType: "payment",
  initialState: initialPaymentState,
  decide: decidePayment,
  evolve: evolvePayment,
  events: paymentEvents,
  // Payment streams are short (a few attempts each): most never reach a snapshot, and the newest is all a load reads.
  snapshots: { codec: paymentSnapshots, every: 20, keep: 1 },
  streamIdOf: categoryStreams("payment")
}

export { PaymentCommand } from "./commands.js"
export type { PaymentRule } from "./decide.js"
export { PaymentEvent } from "./events.js"
export { attemptOf, capturedAttempt, currentAttempt } from "./state.js"
export type { PaymentState } from "./state.js"
export type { AttemptStatus, PaymentAttempt } from "./values.js"
export * as PaymentValues from "./values.js"
