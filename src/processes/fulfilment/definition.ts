/**
 * The order fulfilment saga (one per order; its id is the order's), as a pure definition:
 *
 *  1. OrderConfirmed → read the order's lines, reserve each line's stock in turn. A line that cannot
 *     be reserved → release the others (last first), cancel the order `out-of-stock`.
 *  2. PaymentRequested (POST /orders/{id}/pay) → once the stock is reserved: authorize with the
 *     provider, capture, record the order paid. Declined → the order is confirmed again, with the
 *     reason, and may be paid again. No answer within the payment timeout → void it, and treat it as
 *     declined.
 *  3. Not paid within the reservation's time to live → release the stock, cancel `reservation-expired`.
 *  4. OrderCancelled after the capture → refund, record the refund on the order, release the stock.
 *     OrderShipped → each reservation becomes a stock movement.
 *
 * Every order ends paid with its stock reserved and one capture, or cancelled with nothing reserved
 * and no money kept. Compensation runs in reverse: the order is cancelled first only when money was
 * taken (so it cannot ship while it is refunded), the refund next, the stock last first, then the
 * order if it is not cancelled yet.
 *
 * The state is a fold of what the saga saw and learnt; settings (time to live, timeouts) shape only
 * its decisions, so a change to them never changes the state a stored history folds to.
 */
import { nameBasedId } from "../../runtime/commandIds.js"
import type { Decision, ProcessDefinition, Reaction, RetryPolicy, Trigger } from "../saga.js"

export type FulfilmentPhase =
  | "starting"
  | "reserving"
  | "awaitingPayment"
  | "paying"
  | "paid"
  | "shipping"
  | "compensating"
  | "done"

export interface PaymentAsk {
  readonly attempt: number
  readonly amountCents: number
  readonly method: string
}

export interface FulfilmentState {
  readonly phase: FulfilmentPhase
  readonly orderId: string
  readonly currency: string
  readonly lines: ReadonlyArray<{ readonly sku: string; readonly quantity: number }>
  /** SKUs whose stock this order holds, in the order they were reserved. */
  readonly reserved: ReadonlyArray<string>
  /** SKUs shipped (reservation turned into a stock movement). */
  readonly shippedSkus: ReadonlyArray<string>
  /** A payment asked for before the saga could take it up. */
  readonly queuedPayment: PaymentAsk | null
  /** The payment attempt in progress. */
  readonly payment: (PaymentAsk & { readonly paymentId: string; readonly declineReason: string | null }) | null
  readonly captured: { readonly attempt: number; readonly paymentId: string; readonly amountCents: number } | null
  readonly refunded: boolean
  readonly refundRecorded: boolean
  readonly orderCancelled: boolean
  /** Why the saga winds down; null while it does not. */
  readonly cancelReason: string | null
  /** The reservation expired while a payment was in flight: if that one fails, the order is cancelled. */
  readonly expired: boolean
  /** OrderShipped was seen (perhaps before the saga learnt that its payment was recorded). */
  readonly shipped: boolean
}

export const initialFulfilment: FulfilmentState = {
  phase: "starting",
  orderId: "",
  currency: "",
  lines: [],
  reserved: [],
  shippedSkus: [],
  queuedPayment: null,
  payment: null,
  captured: null,
  refunded: false,
  refundRecorded: false,
  orderCancelled: false,
  cancelReason: null,
  expired: false,
  shipped: false
}

export const RESERVATION_TIMER = "reservation-expiry"

/** What each kind of step is given and answers (the handlers in steps.ts implement them). */
export interface StepContracts {
  "read-order": {
    input: { orderId: string }
    output: { currency: string; totalCents: number; lines: ReadonlyArray<{ sku: string; quantity: number }> }
  }
  reserve: { input: { orderId: string; sku: string; quantity: number }; output: { reserved: true } | { reserved: false; reason: string } }
  release: { input: { orderId: string; sku: string }; output: {} }
  "ship-stock": { input: { orderId: string; sku: string }; output: {} }
  authorize: {
    input: { orderId: string; attempt: number; paymentId: string; amountCents: number; currency: string; method: string }
    output: { approved: true; authorizationId: string } | { approved: false; timedOut: boolean; reason: string }
  }
  capture: {
    input: { orderId: string; attempt: number; paymentId: string; authorizationId: string; amountCents: number }
    output: { captured: true } | { captured: false; reason: string }
  }
  void: { input: { orderId: string; attempt: number; paymentId: string }; output: {} }
  refund: { input: { orderId: string; attempt: number; paymentId: string; amountCents: number }; output: {} }
  "order-paid": { input: { orderId: string; attempt: number }; output: { recorded: true } | { recorded: false; reason: string } }
  "order-declined": { input: { orderId: string; attempt: number; reason: string }; output: {} }
  "order-refunded": { input: { orderId: string; amountCents: number }; output: {} }
  "cancel-order": { input: { orderId: string; reason: string }; output: { cancelled: true } | { cancelled: false; rule: string } }
}
export type StepKind = keyof StepContracts

export interface FulfilmentSettings {
  readonly reservationTtlMs: number
  readonly paymentTimeoutMs: number
  /** One attempt of a step that is not a provider call. */
  readonly stepTimeoutMs: number
  readonly retry: RetryPolicy
}

/** The provider's payment id of an order's attempt: its idempotency keys derive from it. */
export const paymentIdOf = (orderId: string, attempt: number) => nameBasedId(`payment:${orderId}:${attempt}`)

const run = <K extends StepKind>(kind: K, step: string, input: StepContracts[K]["input"], compensation = false): Decision => ({
  _tag: "Run",
  request: { step, kind, input, compensation }
})

type Result = Reaction<FulfilmentState>

const stay = (state: FulfilmentState, ...decisions: ReadonlyArray<Decision>): Result => ({ state, decisions })

const windingDown = (state: FulfilmentState) => state.orderCancelled || state.cancelReason !== null

/** The next line's reservation; when all are held, the reservation's time to live starts (until `expiresAt`). */
const reserveNext = (state: FulfilmentState, expiresAt: string): Result => {
  const line = state.lines[state.reserved.length]
  if (line !== undefined) {
    return stay({ ...state, phase: "reserving" }, run("reserve", `reserve:${line.sku}`, { orderId: state.orderId, ...line }))
  }
  const next = takePayment({ ...state, phase: "awaitingPayment" })
  return { state: next.state, decisions: [{ _tag: "SetTimer", timer: RESERVATION_TIMER, dueAt: expiresAt }, ...next.decisions] }
}

/** Ready for a payment: the one queued, if any. */
const takePayment = (state: FulfilmentState): Result => {
  const ask = state.queuedPayment
  if (ask === null) return stay(state)
  const paymentId = paymentIdOf(state.orderId, ask.attempt)
  return stay(
    { ...state, phase: "paying", queuedPayment: null, payment: { ...ask, paymentId, declineReason: null } },
    run("authorize", `authorize:${ask.attempt}`, { orderId: state.orderId, paymentId, currency: state.currency, ...ask })
  )
}

/** The next compensation, or the end: refund what was captured, release the stock (last first), cancel the order. */
const compensateNext = (state: FulfilmentState): Result => {
  const { orderId } = state
  const reason = state.cancelReason ?? "cancelled"
  if (state.captured !== null && !state.orderCancelled) {
    return stay(state, run("cancel-order", "cancel-order", { orderId, reason }, true))
  }
  if (state.captured !== null && !state.refunded) {
    const { attempt, paymentId, amountCents } = state.captured
    return stay(state, run("refund", "refund", { orderId, attempt, paymentId, amountCents }, true))
  }
  if (state.captured !== null && !state.refundRecorded) {
    return stay(state, run("order-refunded", "order-refunded", { orderId, amountCents: state.captured.amountCents }, true))
  }
  const last = state.reserved[state.reserved.length - 1]
  if (last !== undefined) return stay(state, run("release", `release:${last}`, { orderId, sku: last }, true))
  if (!state.orderCancelled) return stay(state, run("cancel-order", "cancel-order", { orderId, reason }, true))
  return stay({ ...state, phase: "done" }, { _tag: "Finish", outcome: "cancelled" })
}

const windDown = (state: FulfilmentState, reason?: string): Result => {
  const next = compensateNext({ ...state, phase: "compensating", cancelReason: state.cancelReason ?? reason ?? "cancelled" })
  return { state: next.state, decisions: [{ _tag: "CancelTimer", timer: RESERVATION_TIMER }, ...next.decisions] }
}

const shipNext = (state: FulfilmentState): Result => {
  const line = state.lines.find((candidate) => !state.shippedSkus.includes(candidate.sku))
  if (line === undefined) return stay({ ...state, phase: "done" }, { _tag: "Finish", outcome: "fulfilled" })
  return stay({ ...state, phase: "shipping" }, run("ship-stock", `ship:${line.sku}`, { orderId: state.orderId, sku: line.sku }))
}

/** The attempt failed (declined, timed out and voided, or its capture refused): tell the order. */
const declinePayment = (state: FulfilmentState, reason: string): Result => {
  const payment = state.payment!
  return stay(
    { ...state, payment: { ...payment, declineReason: reason } },
    run("order-declined", `order-declined:${payment.attempt}`, { orderId: state.orderId, attempt: payment.attempt, reason })
  )
}

const NO_ANSWER = "the payment provider did not answer in time"

const onObserved = (state: FulfilmentState, type: string, streamId: string, data: any): Result => {
  switch (type) {
    case "OrderConfirmed":
      if (state.orderId !== "") return stay(state)
      return stay({ ...state, orderId: streamId }, run("read-order", "read-order", { orderId: streamId }))
    case "PaymentRequested": {
      const ask: PaymentAsk = { attempt: data.attempt, amountCents: data.amountCents, method: data.method }
      if (state.phase === "awaitingPayment") return takePayment({ ...state, queuedPayment: ask })
      if (["starting", "reserving", "paying"].includes(state.phase)) return stay({ ...state, queuedPayment: ask })
      return stay(state)
    }
    case "OrderCancelled": {
      const cancelled = { ...state, orderCancelled: true, cancelReason: state.cancelReason ?? String(data.reason) }
      if (state.orderCancelled) return stay(state)
      // With a step in flight, its result continues the wind-down.
      return state.phase === "awaitingPayment" || state.phase === "paid" ? windDown(cancelled) : stay(cancelled)
    }
    case "OrderShipped":
      return state.phase === "paid" ? shipNext({ ...state, shipped: true }) : stay({ ...state, shipped: true })
    default:
      return stay(state)
  }
}

const onStep = (state: FulfilmentState, kind: string, input: any, output: any, expiresAt: string): Result => {
  switch (kind as StepKind) {
    case "read-order": {
      const read = output as StepContracts["read-order"]["output"]
      const loaded = { ...state, currency: read.currency, lines: read.lines.map(({ sku, quantity }) => ({ sku, quantity })) }
      return windingDown(loaded) ? windDown(loaded) : reserveNext(loaded, expiresAt)
    }
    case "reserve": {
      const reserve = output as StepContracts["reserve"]["output"]
      if (!reserve.reserved) return windDown(state, "out-of-stock")
      const held = { ...state, reserved: [...state.reserved, input.sku as string] }
      return windingDown(held) ? windDown(held) : reserveNext(held, expiresAt)
    }
    case "release":
      return compensateNext({ ...state, reserved: state.reserved.filter((sku) => sku !== input.sku) })
    case "cancel-order": {
      const cancel = output as StepContracts["cancel-order"]["output"]
      if (!cancel.cancelled && cancel.rule === "no-cancel-after-shipping") {
        // It shipped first: the goods are gone, the payment stands. Fulfil instead.
        return shipNext({ ...state, shipped: true, cancelReason: null })
      }
      return compensateNext({ ...state, orderCancelled: true })
    }
    case "refund":
      return compensateNext({ ...state, refunded: true })
    case "order-refunded":
      return compensateNext({ ...state, refundRecorded: true })
    case "ship-stock":
      return shipNext({ ...state, shippedSkus: [...state.shippedSkus, input.sku as string] })
    case "authorize": {
      const authorized = output as StepContracts["authorize"]["output"]
      const payment = state.payment!
      if (authorized.approved) {
        if (windingDown(state)) return stay(state, run("void", `void:${payment.attempt}`, { orderId: state.orderId, attempt: payment.attempt, paymentId: payment.paymentId }, true))
        return stay(state, run("capture", `capture:${payment.attempt}`, {
          orderId: state.orderId,
          attempt: payment.attempt,
          paymentId: payment.paymentId,
          authorizationId: authorized.authorizationId,
          amountCents: payment.amountCents
        }))
      }
      if (authorized.timedOut) {
        return stay(
          { ...state, payment: { ...payment, declineReason: NO_ANSWER } },
          run("void", `void:${payment.attempt}`, { orderId: state.orderId, attempt: payment.attempt, paymentId: payment.paymentId }, true)
        )
      }
      return windingDown(state) ? afterPaymentFailed(state) : declinePayment(state, authorized.reason)
    }
    case "void": {
      const payment = state.payment!
      return windingDown(state) ? afterPaymentFailed(state) : declinePayment(state, payment.declineReason ?? NO_ANSWER)
    }
    case "capture": {
      const capture = output as StepContracts["capture"]["output"]
      const payment = state.payment!
      if (!capture.captured) return windingDown(state) ? afterPaymentFailed(state) : declinePayment(state, capture.reason)
      const captured = { ...state, captured: { attempt: payment.attempt, paymentId: payment.paymentId, amountCents: payment.amountCents } }
      if (windingDown(captured)) return windDown({ ...captured, payment: null })
      return stay(captured, run("order-paid", `order-paid:${payment.attempt}`, { orderId: state.orderId, attempt: payment.attempt }))
    }
    case "order-paid": {
      const paid = output as StepContracts["order-paid"]["output"]
      const settled = { ...state, payment: null }
      if (!paid.recorded) return windDown({ ...settled, orderCancelled: true })
      if (windingDown(settled)) return windDown(settled)
      const next = settled.shipped ? shipNext(settled) : stay({ ...settled, phase: "paid" as const })
      return { state: next.state, decisions: [{ _tag: "CancelTimer", timer: RESERVATION_TIMER }, ...next.decisions] }
    }
    case "order-declined":
      return afterPaymentFailed(state)
  }
}

/** The attempt is over without money taken: wind down if asked to, else wait for the next payment. */
const afterPaymentFailed = (state: FulfilmentState): Result => {
  const settled: FulfilmentState = { ...state, payment: null }
  if (windingDown(settled)) return windDown(settled)
  if (settled.expired) return windDown(settled, "reservation-expired")
  return takePayment({ ...settled, phase: "awaitingPayment" })
}

const react = (state: FulfilmentState, trigger: Trigger, expiresAt: string): Result => {
  switch (trigger._tag) {
    case "Observed":
      return onObserved(state, trigger.event.type, trigger.event.streamId, trigger.event.data)
    case "StepSucceeded":
      return onStep(state, trigger.kind, trigger.input, trigger.output, expiresAt)
    case "TimerFired":
      if (trigger.timer !== RESERVATION_TIMER) return stay(state)
      if (state.phase === "awaitingPayment") return windDown(state, "reservation-expired")
      return state.phase === "paying" ? stay({ ...state, expired: true }) : stay(state)
    case "CompensationRequested": {
      const asked = { ...state, cancelReason: state.cancelReason ?? `compensated by ${trigger.by}` }
      if (state.phase === "awaitingPayment" || state.phase === "paid") return windDown(asked)
      // A step in flight continues the wind-down; shipped goods are not compensated.
      return ["starting", "reserving", "paying"].includes(state.phase) ? stay(asked) : stay(state)
    }
  }
}

const providerSteps: ReadonlyArray<string> = ["authorize", "capture", "void", "refund"]

export const fulfilmentV1 = (settings: FulfilmentSettings): ProcessDefinition<FulfilmentState> => ({
  name: "fulfilment",
  version: 1,
  subscribesTo: { order: ["OrderConfirmed", "PaymentRequested", "OrderCancelled", "OrderShipped"] },
  startsWith: ["OrderConfirmed"],
  sagaIdOf: (event) => event.streamId,
  initialState: initialFulfilment,
  react: (state, trigger, now) => react(state, trigger, new Date(Date.parse(now) + settings.reservationTtlMs).toISOString()),
  // A provider call's own deadline is the payment timeout; its step has room to record the outcome.
  stepTimeoutMs: (kind) => (providerSteps.includes(kind) ? settings.paymentTimeoutMs + settings.stepTimeoutMs : settings.stepTimeoutMs),
  retry: settings.retry
})
