/** The Payment's state and its event handler (`evolve`). */
import { Either, ParseResult, Schema } from "effect"
import type { SnapshotCodec } from "../aggregate.js"
import type { PaymentEvent } from "./events.js"
import { type AttemptStatus, PaymentAttempt } from "./values.js"

export interface PaymentState {
  /** In attempt order: attempt n is at index n - 1. */
  readonly attempts: ReadonlyArray<PaymentAttempt>
}

export const initialPaymentState: PaymentState = { attempts: [] }

/** The latest attempt, if any was requested. */
export const currentAttempt = (state: PaymentState): PaymentAttempt | undefined => state.attempts.at(-1)

/** The attempt that took the money (captured, or captured and since refunded), if any; the latest such. */
export const capturedAttempt = (state: PaymentState): PaymentAttempt | undefined => {
  for (let i = state.attempts.length - 1; i >= 0; i--) {
    const attempt = state.attempts[i]!
    if (attempt.status === "captured" || attempt.status === "refunded") return attempt
  }
  return undefined
}

export const attemptOf = (state: PaymentState, attempt: number): PaymentAttempt | undefined =>
  state.attempts.find((candidate) => candidate.attempt === attempt)

const update = (
  state: PaymentState,
  attempt: number,
  change: { readonly status: AttemptStatus; readonly authorizationId?: string; readonly reason?: string }
): PaymentState => ({
  attempts: state.attempts.map((candidate) => candidate.attempt === attempt ? { ...candidate, ...change } : candidate)
})

export const evolvePayment = (state: PaymentState, event: PaymentEvent): PaymentState => {
  switch (event._tag) {
    case "PaymentRequested":
      return {
        attempts: [
          ...state.attempts,
          {
            attempt: event.attempt,
            paymentId: event.paymentId,
            amountCents: event.amountCents,
            currency: event.currency,
            method: event.method,
            status: "requested",
            authorizationId: null,
            reason: null
          }
        ]
      }
    case "PaymentAuthorized":
      return update(state, event.attempt, { status: "authorized", authorizationId: event.authorizationId })
    case "PaymentCaptured":
      return update(state, event.attempt, { status: "captured" })
    case "PaymentDeclined":
      return update(state, event.attempt, { status: "declined", reason: event.reason })
    case "PaymentTimedOut":
      return update(state, event.attempt, { status: "timedOut" })
    case "PaymentVoided":
      return update(state, event.attempt, { status: "voided" })
    case "PaymentRefunded":
      return update(state, event.attempt, { status: "refunded" })
  }
}

/** The state as a schema, for snapshots. */
const PaymentStateSchema = Schema.Struct({ attempts: Schema.Array(PaymentAttempt) })

const decodeState = Schema.decodeUnknownEither(PaymentStateSchema, { onExcessProperty: "error" })

export const paymentSnapshots: SnapshotCodec<PaymentState> = {
  schemaVersion: 1,
  encode: Schema.encodeSync(PaymentStateSchema),
  decode: (stored) => Either.mapLeft(decodeState(stored), (error) => ParseResult.TreeFormatter.formatErrorSync(error))
}
