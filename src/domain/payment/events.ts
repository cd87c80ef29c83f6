/** Events of the Payment aggregate: Effect Schemas, each with a schema version in the catalogue. */
import { Schema } from "effect"
import { makeEventCatalog } from "../events.js"

/** Event timestamps come in with the command (the decider has no clock); ISO-8601 strings. */
const Instant = Schema.String

export const PaymentRequested = Schema.TaggedStruct("PaymentRequested", {
  attempt: Schema.Int,
  paymentId: Schema.String,
  amountCents: Schema.Int,
  currency: Schema.String,
  method: Schema.String,
  requestedAt: Instant
})
export const PaymentAuthorized = Schema.TaggedStruct("PaymentAuthorized", {
  attempt: Schema.Int,
  authorizationId: Schema.String,
  authorizedAt: Instant
})
export const PaymentCaptured = Schema.TaggedStruct("PaymentCaptured", { attempt: Schema.Int, capturedAt: Instant })
export const PaymentDeclined = Schema.TaggedStruct("PaymentDeclined", {
  attempt: Schema.Int,
  reason: Schema.String,
  declinedAt: Instant
})
/** The provider did not answer in time: the attempt's outcome is unknown until it is voided. */
export const PaymentTimedOut = Schema.TaggedStruct("PaymentTimedOut", { attempt: Schema.Int, timedOutAt: Instant })
export const PaymentVoided = Schema.TaggedStruct("PaymentVoided", { attempt: Schema.Int, voidedAt: Instant })
export const PaymentRefunded = Schema.TaggedStruct("PaymentRefunded", {
  attempt: Schema.Int,
  amountCents: Schema.Int,
  refundedAt: Instant
})

export const PaymentEvent = Schema.Union(
  PaymentRequested,
  PaymentAuthorized,
  PaymentCaptured,
  PaymentDeclined,
  PaymentTimedOut,
  PaymentVoided,
  PaymentRefunded
)
export type PaymentEvent = typeof PaymentEvent.Type

export const paymentEvents = makeEventCatalog(PaymentEvent, {
  PaymentRequested: { schemaVersion: 1 },
  PaymentAuthorized: { schemaVersion: 1 },
  PaymentCaptured: { schemaVersion: 1 },
  PaymentDeclined: { schemaVersion: 1 },
  PaymentTimedOut: { schemaVersion: 1 },
  PaymentVoided: { schemaVersion: 1 },
  PaymentRefunded: { schemaVersion: 1 }
})
