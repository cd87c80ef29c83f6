/**
 * Value schemas of the Payment aggregate, shared by the events and by the HTTP edge so that the
 * rules on a value are stated once.
 */
import { Schema } from "effect"

/** Amounts are whole minor units and must stay exact in a JavaScript number. */
export const MAX_AMOUNT_CENTS = Number.MAX_SAFE_INTEGER

export const AmountCents = Schema.Int.pipe(
  Schema.between(1, MAX_AMOUNT_CENTS, {
    message: () => "amountCents must be a positive whole number of cents"
  })
)

/** Attempts are numbered from 1; a declined order may be paid again as attempt 2, 3… */
export const AttemptNumber = Schema.Int.pipe(
  Schema.greaterThanOrEqualTo(1, { message: () => "attempt must be a whole number from 1" })
)

export const AttemptStatus = Schema.Literal(
  "requested",
  "authorized",
  "captured",
  "declined",
  "timedOut",
  "voided",
  "refunded"
)
export type AttemptStatus = typeof AttemptStatus.Type

export const PaymentAttempt = Schema.Struct({
  attempt: Schema.Int,
  /** Given by the caller, who derives it (the provider's idempotency key for this attempt). */
  paymentId: Schema.String,
  amountCents: Schema.Int,
  currency: Schema.String,
  method: Schema.String,
  status: AttemptStatus,
  authorizationId: Schema.NullOr(Schema.String),
  /** Why the provider declined the attempt; null otherwise. */
  reason: Schema.NullOr(Schema.String)
})
export type PaymentAttempt = typeof PaymentAttempt.Type
