import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { fold } from "../../../src/domain/aggregate.js"
import {
  capturedAttempt,
  currentAttempt,
  PaymentCommand,
  type PaymentEvent,
  paymentAggregate
} from "../../../src/domain/payment/index.js"
import { deciderSpec } from "../../../src/testing/index.js"

const spec = deciderSpec(paymentAggregate)
const at = "2026-01-02T03:04:05.000Z"
const amountCents = 4599

const paymentIdOf = (attempt: number) => `pay-order-1-${attempt}`
const requested = (attempt = 1): PaymentEvent => ({
  _tag: "PaymentRequested",
  attempt,
  paymentId: paymentIdOf(attempt),
  amountCents,
  currency: "EUR",
  method: "card",
  requestedAt: at
})
const authorized = (attempt = 1): PaymentEvent => ({
  _tag: "PaymentAuthorized",
  attempt,
  authorizationId: `auth-${attempt}`,
  authorizedAt: at
})
const captured = (attempt = 1): PaymentEvent => ({ _tag: "PaymentCaptured", attempt, capturedAt: at })
const declined = (attempt = 1): PaymentEvent => ({
  _tag: "PaymentDeclined",
  attempt,
  reason: "insufficient funds",
  declinedAt: at
})
const timedOut = (attempt = 1): PaymentEvent => ({ _tag: "PaymentTimedOut", attempt, timedOutAt: at })
const voided = (attempt = 1): PaymentEvent => ({ _tag: "PaymentVoided", attempt, voidedAt: at })
const refunded = (attempt = 1): PaymentEvent => ({ _tag: "PaymentRefunded", attempt, amountCents, refundedAt: at })

const request = (attempt = 1, amount = amountCents) =>
  PaymentCommand.Request({
    attempt,
    paymentId: paymentIdOf(attempt),
    amountCents: amount,
    currency: "EUR",
    method: "card",
    at
  })
const authorize = (attempt = 1) =>
  PaymentCommand.RecordAuthorization({ attempt, authorizationId: `auth-${attempt}`, at })
const capture = (attempt = 1) => PaymentCommand.RecordCapture({ attempt, at })
const decline = (attempt = 1) => PaymentCommand.RecordDecline({ attempt, reason: "insufficient funds", at })
const timeout = (attempt = 1) => PaymentCommand.RecordTimeout({ attempt, at })
const voidIt = (attempt = 1) => PaymentCommand.RecordVoid({ attempt, at })
const refund = (attempt = 1, amount = amountCents) => PaymentCommand.RecordRefund({ attempt, amountCents: amount, at })

const stateAfter = (history: ReadonlyArray<PaymentEvent>) =>
  fold(paymentAggregate.evolve, paymentAggregate.initialState, history)

const messageOf = (history: ReadonlyArray<PaymentEvent>, command: PaymentCommand) =>
  Either.match(paymentAggregate.decide(command, stateAfter(history)), {
    onLeft: (error) => error.message,
    onRight: (events) => `accepted ${JSON.stringify(events)}`
  })

describe("Payment decider", () => {
  describe("commands before any request", () => {
    for (const command of [authorize(), capture(), decline(), timeout(), voidIt(), refund()]) {
      it(`${command._tag} → not created`, () => spec.given([]).when(command).thenNotCreated())
    }
  })

  describe("commands for an attempt that does not exist", () => {
    for (const command of [authorize(2), capture(2), decline(2), timeout(2), voidIt(2), refund(2)]) {
      it(`${command._tag} → unknown-attempt`, () =>
        spec.given([requested()]).when(command).thenRefuses("unknown-attempt"))
    }
  })

  describe("Request", () => {
    it("requests the first attempt", () => spec.given([]).when(request()).then([requested()]))
    it("emits nothing for the same attempt again (a repeat)", () => spec.given([requested()]).when(request()).then([]))
    it("emits nothing for an attempt that has since ended", () =>
      spec.given([requested(), declined()]).when(request(1)).then([]))
    it("requests a new attempt after a decline", () =>
      spec.given([requested(), declined()]).when(request(2)).then([requested(2)]))
    it("requests a new attempt after a timeout was voided", () =>
      spec.given([requested(), timedOut(), voided()]).when(request(2)).then([requested(2)]))
    it("refuses a new attempt once one is captured", () =>
      spec.given([requested(), authorized(), captured()]).when(request(2)).thenRefuses("already-captured"))
    it("refuses a new attempt while the last is requested", () =>
      spec.given([requested()]).when(request(2)).thenRefuses("payment-in-progress"))
    it("refuses a new attempt while the last is authorized", () =>
      spec.given([requested(), authorized()]).when(request(2)).thenRefuses("payment-in-progress"))
    it("refuses a new attempt while the last timed out and is not voided (the provider may yet approve it)", () =>
      spec.given([requested(), timedOut()]).when(request(2)).thenRefuses("payment-in-progress"))
    it("refuses a first attempt numbered 2", () => spec.given([]).when(request(2)).thenRefuses("attempt-out-of-order"))
    it("refuses a skipped attempt number, naming the next one", () => {
      const history = [requested(), declined()]
      spec.given(history).when(request(3)).thenRefuses("attempt-out-of-order")
      expect(messageOf(history, request(3))).toContain("next attempt is 2")
    })
    it("refuses attempt 0", () => spec.given([]).when(request(0)).thenRefuses("attempt-out-of-order"))
    it("refuses a zero amount", () => spec.given([]).when(request(1, 0)).thenRefuses("amount-out-of-range"))
    it("refuses a negative amount", () => spec.given([]).when(request(1, -5)).thenRefuses("amount-out-of-range"))
    it("refuses a fraction of a cent", () => spec.given([]).when(request(1, 10.5)).thenRefuses("amount-out-of-range"))
    it("refuses an amount beyond a safe integer", () =>
      spec.given([]).when(request(1, Number.MAX_SAFE_INTEGER + 1)).thenRefuses("amount-out-of-range"))
    it("takes one cent", () =>
      spec.given([]).when(request(1, 1)).then([{ ...requested(), amountCents: 1 } as PaymentEvent]))
  })

  describe("RecordAuthorization", () => {
    it("authorizes a requested attempt", () => spec.given([requested()]).when(authorize()).then([authorized()]))
    it("emits nothing when already authorized", () =>
      spec.given([requested(), authorized()]).when(authorize()).then([]))
    it("emits nothing when already captured", () =>
      spec.given([requested(), authorized(), captured()]).when(authorize()).then([]))
    it("emits nothing when authorized and since voided", () =>
      spec.given([requested(), authorized(), voided()]).when(authorize()).then([]))
    it("refuses a declined attempt, naming its status", () => {
      spec.given([requested(), declined()]).when(authorize()).thenRefuses("not-requested")
      expect(messageOf([requested(), declined()], authorize())).toContain("declined")
    })
    it("refuses a timed-out attempt", () =>
      spec.given([requested(), timedOut()]).when(authorize()).thenRefuses("not-requested"))
    it("refuses a timed-out attempt that was voided", () =>
      spec.given([requested(), timedOut(), voided()]).when(authorize()).thenRefuses("not-requested"))
  })

  describe("RecordCapture", () => {
    it("captures an authorized attempt", () =>
      spec.given([requested(), authorized()]).when(capture()).then([captured()]))
    it("emits nothing when already captured", () =>
      spec.given([requested(), authorized(), captured()]).when(capture()).then([]))
    it("emits nothing when captured and since refunded", () =>
      spec.given([requested(), authorized(), captured(), refunded()]).when(capture()).then([]))
    it("refuses a requested attempt", () => spec.given([requested()]).when(capture()).thenRefuses("not-authorized"))
    it("refuses a declined attempt", () =>
      spec.given([requested(), declined()]).when(capture()).thenRefuses("not-authorized"))
    it("refuses a voided attempt", () =>
      spec.given([requested(), authorized(), voided()]).when(capture()).thenRefuses("not-authorized"))
  })

  describe("RecordDecline", () => {
    it("declines a requested attempt", () => spec.given([requested()]).when(decline()).then([declined()]))
    it("emits nothing when already declined", () => spec.given([requested(), declined()]).when(decline()).then([]))
    it("refuses an authorized attempt", () =>
      spec.given([requested(), authorized()]).when(decline()).thenRefuses("not-requested"))
    it("refuses a timed-out attempt", () =>
      spec.given([requested(), timedOut()]).when(decline()).thenRefuses("not-requested"))
  })

  describe("RecordTimeout", () => {
    it("times out a requested attempt", () => spec.given([requested()]).when(timeout()).then([timedOut()]))
    it("emits nothing when already timed out", () => spec.given([requested(), timedOut()]).when(timeout()).then([]))
    it("emits nothing when timed out and since voided", () =>
      spec.given([requested(), timedOut(), voided()]).when(timeout()).then([]))
    it("refuses an authorized attempt", () =>
      spec.given([requested(), authorized()]).when(timeout()).thenRefuses("not-requested"))
    it("refuses a declined attempt", () =>
      spec.given([requested(), declined()]).when(timeout()).thenRefuses("not-requested"))
  })

  describe("RecordVoid", () => {
    it("voids a timed-out attempt", () => spec.given([requested(), timedOut()]).when(voidIt()).then([voided()]))
    it("voids an authorized attempt", () => spec.given([requested(), authorized()]).when(voidIt()).then([voided()]))
    it("emits nothing when already voided", () =>
      spec.given([requested(), timedOut(), voided()]).when(voidIt()).then([]))
    it("refuses a requested attempt", () => spec.given([requested()]).when(voidIt()).thenRefuses("not-voidable"))
    it("refuses a captured attempt", () =>
      spec.given([requested(), authorized(), captured()]).when(voidIt()).thenRefuses("not-voidable"))
    it("refuses a declined attempt", () =>
      spec.given([requested(), declined()]).when(voidIt()).thenRefuses("not-voidable"))
  })

  describe("RecordRefund", () => {
    const capturedHistory = [requested(), authorized(), captured()]
    it("refunds a captured attempt in full", () => spec.given(capturedHistory).when(refund()).then([refunded()]))
    it("emits nothing when already refunded", () =>
      spec.given([...capturedHistory, refunded()]).when(refund()).then([]))
    it("refuses a partial refund, naming both amounts", () => {
      spec.given(capturedHistory).when(refund(1, 1000)).thenRefuses("refund-must-equal-capture")
      const message = messageOf(capturedHistory, refund(1, 1000))
      expect(message).toContain("1000")
      expect(message).toContain(String(amountCents))
    })
    it("refuses more than was captured", () =>
      spec.given(capturedHistory).when(refund(1, amountCents + 1)).thenRefuses("refund-must-equal-capture"))
    it("refuses an authorized attempt", () =>
      spec.given([requested(), authorized()]).when(refund()).thenRefuses("not-captured"))
    it("refuses a declined attempt", () =>
      spec.given([requested(), declined()]).when(refund()).thenRefuses("not-captured"))
  })

  describe("declined, then paid again", () => {
    const history = [requested(1), declined(1), requested(2), authorized(2), captured(2), refunded(2)]

    it("goes through attempt 2 step by step", () => {
      spec.given([requested(1)]).when(decline(1)).then([declined(1)])
      spec.given(history.slice(0, 2)).when(request(2)).then([requested(2)])
      spec.given(history.slice(0, 3)).when(authorize(2)).then([authorized(2)])
      spec.given(history.slice(0, 4)).when(capture(2)).then([captured(2)])
      spec.given(history.slice(0, 5)).when(request(3)).thenRefuses("already-captured")
      spec.given(history.slice(0, 5)).when(refund(2)).then([refunded(2)])
    })

    it("keeps both attempts, each with its own outcome", () => {
      const state = stateAfter(history)
      expect(state.attempts).toEqual([
        {
          attempt: 1,
          paymentId: paymentIdOf(1),
          amountCents,
          currency: "EUR",
          method: "card",
          status: "declined",
          authorizationId: null,
          reason: "insufficient funds"
        },
        {
          attempt: 2,
          paymentId: paymentIdOf(2),
          amountCents,
          currency: "EUR",
          method: "card",
          status: "refunded",
          authorizationId: "auth-2",
          reason: null
        }
      ])
      expect(currentAttempt(state)?.attempt).toBe(2)
      expect(capturedAttempt(state)?.attempt).toBe(2)
      expect(capturedAttempt(stateAfter(history.slice(0, 5)))?.status).toBe("captured")
      expect(capturedAttempt(stateAfter(history.slice(0, 4)))).toBeUndefined()
    })

    it("a late decision about attempt 1 changes nothing or is refused", () => {
      spec.given(history).when(decline(1)).then([])
      spec.given(history).when(authorize(1)).thenRefuses("not-requested")
    })
  })

  describe("events and snapshots", () => {
    const all = [requested(), authorized(), captured(), declined(), timedOut(), voided(), refunded()]
    it("stores every event at schema version 1 and reads it back", () => {
      expect(paymentAggregate.events.types).toHaveLength(all.length)
      for (const event of all) {
        const stored = paymentAggregate.events.encode(event)
        expect(stored.schemaVersion).toBe(1)
        expect(paymentAggregate.events.decode(JSON.parse(JSON.stringify(stored)))).toEqual(Either.right(event))
      }
    })
    it("round-trips a state through its snapshot form", () => {
      const codec = paymentAggregate.snapshots!.codec
      const state = stateAfter([requested(1), declined(1), requested(2), authorized(2)])
      expect(codec.schemaVersion).toBe(1)
      expect(codec.decode(JSON.parse(JSON.stringify(codec.encode(state))))).toEqual(Either.right(state))
      expect(codec.decode(codec.encode(paymentAggregate.initialState))).toEqual(Either.right({ attempts: [] }))
    })
    it("refuses a snapshot with an unknown status", () => {
      const codec = paymentAggregate.snapshots!.codec
      const stored = codec.encode(stateAfter([requested()])) as { attempts: Array<Record<string, unknown>> }
      expect(Either.isLeft(codec.decode({ attempts: [{ ...stored.attempts[0], status: "lost" }] }))).toBe(true)
    })
  })
})
