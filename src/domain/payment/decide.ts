/** The Payment's command handler: the business rules, as a pure function of command and state. */
import { type Data, Either } from "effect"
import { type DomainError, NotCreated, RuleViolated } from "../aggregate.js"
import type { PaymentCommand } from "./commands.js"
import type { PaymentEvent } from "./events.js"
import { attemptOf, currentAttempt, type PaymentState } from "./state.js"
import { MAX_AMOUNT_CENTS, type PaymentAttempt } from "./values.js"

/** Every rule the decider can refuse a command with; the name travels to clients as is. */
export type PaymentRule =
  | "amount-out-of-range"
  | "already-captured"
  | "payment-in-progress"
  | "attempt-out-of-order"
  | "unknown-attempt"
  | "not-requested"
  | "not-authorized"
  | "not-voidable"
  | "not-captured"
  | "refund-must-equal-capture"

type Decision = Either.Either<ReadonlyArray<PaymentEvent>, DomainError>

const refuse = (rule: PaymentRule, message: string): Decision => Either.left(new RuleViolated({ rule, message }))
const emit = (...events: ReadonlyArray<PaymentEvent>): Decision => Either.right(events)
/** The outcome is already recorded: a repeat (a redelivered provider callback, a retried step) changes nothing. */
const nothing: Decision = Either.right([])

const isStatus = (attempt: PaymentAttempt, ...statuses: ReadonlyArray<PaymentAttempt["status"]>) =>
  statuses.includes(attempt.status)

const wrongStatus = (rule: PaymentRule, attempt: PaymentAttempt, expected: string): Decision =>
  refuse(rule, `attempt ${attempt.attempt} is ${attempt.status}, not ${expected}`)

const decideRequest = (command: Data.TaggedEnum.Value<PaymentCommand, "Request">, state: PaymentState): Decision => {
  if (attemptOf(state, command.attempt) !== undefined) return nothing
  const captured = state.attempts.find((attempt) => attempt.status === "captured")
  if (captured !== undefined) {
    return refuse("already-captured", `attempt ${captured.attempt} is already captured`)
  }
  const last = currentAttempt(state)
  // A timed-out attempt may yet be approved at the provider: it must be voided before the next one.
  if (last !== undefined && isStatus(last, "requested", "authorized", "timedOut")) {
    return refuse(
      "payment-in-progress",
      `attempt ${last.attempt} is still ${last.status}; it must end before attempt ${command.attempt}`
    )
  }
  const next = (last?.attempt ?? 0) + 1
  if (command.attempt !== next) {
    return refuse("attempt-out-of-order", `the next attempt is ${next}, not ${command.attempt}`)
  }
  if (!Number.isInteger(command.amountCents) || command.amountCents < 1 || command.amountCents > MAX_AMOUNT_CENTS) {
    return refuse("amount-out-of-range", `amountCents ${command.amountCents} must be a positive whole number of cents`)
  }
  return emit({
    _tag: "PaymentRequested",
    attempt: command.attempt,
    paymentId: command.paymentId,
    amountCents: command.amountCents,
    currency: command.currency,
    method: command.method,
    requestedAt: command.at
  })
}

export const decidePayment = (command: PaymentCommand, state: PaymentState): Decision => {
  if (command._tag === "Request") return decideRequest(command, state)
  if (state.attempts.length === 0) {
    return Either.left(new NotCreated({ message: "no payment has been requested for this order" }))
  }
  const attempt = attemptOf(state, command.attempt)
  if (attempt === undefined) {
    return refuse(
      "unknown-attempt",
      `there is no attempt ${command.attempt}; the latest is ${currentAttempt(state)?.attempt ?? 0}`
    )
  }

  switch (command._tag) {
    case "RecordAuthorization":
      if (isStatus(attempt, "requested")) {
        return emit({
          _tag: "PaymentAuthorized",
          attempt: attempt.attempt,
          authorizationId: command.authorizationId,
          authorizedAt: command.at
        })
      }
      // Authorized once, whatever followed (capture, refund, void): the authorization is a repeat.
      if (attempt.authorizationId !== null) return nothing
      return wrongStatus("not-requested", attempt, "requested")
    case "RecordCapture":
      if (isStatus(attempt, "authorized")) {
        return emit({ _tag: "PaymentCaptured", attempt: attempt.attempt, capturedAt: command.at })
      }
      if (isStatus(attempt, "captured", "refunded")) return nothing
      return wrongStatus("not-authorized", attempt, "authorized")
    case "RecordDecline":
      if (isStatus(attempt, "requested")) {
        return emit({
          _tag: "PaymentDeclined",
          attempt: attempt.attempt,
          reason: command.reason,
          declinedAt: command.at
        })
      }
      if (isStatus(attempt, "declined")) return nothing
      return wrongStatus("not-requested", attempt, "requested")
    case "RecordTimeout":
      if (isStatus(attempt, "requested")) {
        return emit({ _tag: "PaymentTimedOut", attempt: attempt.attempt, timedOutAt: command.at })
      }
      if (isStatus(attempt, "timedOut", "voided")) return nothing
      return wrongStatus("not-requested", attempt, "requested")
    case "RecordVoid":
      if (isStatus(attempt, "timedOut", "authorized")) {
        return emit({ _tag: "PaymentVoided", attempt: attempt.attempt, voidedAt: command.at })
      }
      if (isStatus(attempt, "voided")) return nothing
      return wrongStatus("not-voidable", attempt, "timed out or authorized")
    case "RecordRefund":
      if (isStatus(attempt, "captured")) {
        if (command.amountCents !== attempt.amountCents) {
          return refuse(
            "refund-must-equal-capture",
            `the refund ${command.amountCents} does not equal the ${attempt.amountCents} captured`
          )
        }
        return emit({
          _tag: "PaymentRefunded",
          attempt: attempt.attempt,
          amountCents: command.amountCents,
          refundedAt: command.at
        })
      }
      if (isStatus(attempt, "refunded")) return nothing
      return wrongStatus("not-captured", attempt, "captured")
  }
}
