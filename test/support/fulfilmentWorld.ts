/**
 * A pure, in-memory world for the fulfilment saga: the real deciders of order, inventory, payment
 * and the saga itself, with the store's named-command rule (a command applied before is answered as
 * replayed), a payment provider that keeps its answers by idempotency key, and a manual clock. The
 * step handlers here do what src/processes/fulfilment/steps.ts does, against this world; faults are
 * injected per step run: fail before anything happens, or crash after the effect and before the saga
 * hears of it. The integration tests run the real handlers against PostgreSQL and a real provider.
 */
import { Either } from "effect"
import { type AggregateDefinition, fold } from "../../src/domain/aggregate.js"
import { availableOf, InventoryCommand, inventoryAggregate, type InventoryState, reservationOf } from "../../src/domain/inventory/index.js"
import { OrderCommand, orderAggregate, type OrderState } from "../../src/domain/order/index.js"
import { attemptOf, PaymentCommand, paymentAggregate, type PaymentState } from "../../src/domain/payment/index.js"
import { fulfilmentV1, type FulfilmentSettings, type FulfilmentState } from "../../src/processes/fulfilment/definition.js"
import { dueSteps, dueTimers, sagaAggregate, type SagaCommand, type SagaState, type StepState } from "../../src/processes/saga.js"

export const worldSettings: FulfilmentSettings = {
  reservationTtlMs: 15 * 60_000,
  paymentTimeoutMs: 10_000,
  stepTimeoutMs: 10_000,
  retry: { maxAttempts: 1000, baseDelayMs: 1000, maxDelayMs: 60_000 }
}

type Fault = "none" | "fail" | "crash-after"

interface Stream<S> {
  state: S
  version: number
  applied: Set<string>
}

interface ProviderPayment {
  status: "approved" | "declined" | "timeout" | "voided" | "captured" | "refunded"
  amountCents: number
  captures: number
  refunds: number
  /** test-late: the first answer is too late; a repeat finds it approved (unless voided meanwhile). */
  late: boolean
}

export interface LoggedEvent {
  readonly eventId: string
  readonly streamType: string
  readonly streamId: string
  readonly type: string
  readonly data: unknown
}

class Refused {
  constructor(readonly rule: string, readonly message: string) {}
}

export const makeWorld = (settings: FulfilmentSettings = worldSettings) => {
  const saga = sagaAggregate([fulfilmentV1(settings)])
  let now = Date.parse("2026-03-01T09:00:00.000Z")
  let eventCount = 0
  const streams = new Map<string, Stream<any>>()
  const provider = new Map<string, ProviderPayment>()
  const log: Array<LoggedEvent> = []
  /** Lowest `available` any SKU ever had (never below 0, or it was oversold). */
  let lowestAvailable = Infinity

  const at = () => new Date(now).toISOString()
  const streamOf = <S>(definition: AggregateDefinition<S, any, any>, id: string): Stream<S> => {
    const key = `${definition.streamType}/${id}`
    let stream = streams.get(key)
    if (stream === undefined) {
      stream = { state: definition.initialState, version: 0, applied: new Set() }
      streams.set(key, stream)
    }
    return stream
  }

  /** Decides and applies a command; a named command applied before answers the state as it is (replayed). */
  const execute = <S>(definition: AggregateDefinition<S, any, any>, id: string, command: any, commandId?: string): S => {
    const stream = streamOf(definition, id)
    // A step names each kind of command it sends (ProcessManager's metadataFor).
    const named = commandId === undefined ? undefined : `${commandId}:${command._tag}`
    if (named !== undefined && stream.applied.has(named)) return stream.state
    const decision = definition.decide(command, stream.state)
    if (Either.isLeft(decision)) {
      const error = decision.left
      throw new Refused(error._tag === "RuleViolated" ? error.rule : "not-created", error.message)
    }
    for (const event of decision.right) {
      stream.state = definition.evolve(stream.state, event)
      stream.version++
      const { _tag, ...data } = event as { _tag: string }
      log.push({ eventId: `e${++eventCount}`, streamType: definition.streamType, streamId: id, type: _tag, data })
    }
    if (named !== undefined && decision.right.length > 0) stream.applied.add(named)
    if (definition === (inventoryAggregate as AggregateDefinition<any, any, any>)) {
      lowestAvailable = Math.min(lowestAvailable, availableOf(stream.state as InventoryState))
    }
    return stream.state
  }

  const attempt = <A>(run: () => A): { ok: A } | { refused: Refused } => {
    try {
      return { ok: run() }
    } catch (error) {
      if (error instanceof Refused) return { refused: error }
      throw error
    }
  }

  /** The step handlers, as steps.ts has them, on this world. `commandId` names the step's commands. */
  const handlers: Record<string, (input: any, commandId: string) => unknown> = {
    "read-order": ({ orderId }) => {
      const state = streamOf(orderAggregate, orderId).state
      return { currency: state.currency, totalCents: state.totalCents, lines: state.lines.map(({ quantity, sku }) => ({ sku, quantity })) }
    },
    reserve: ({ orderId, quantity, sku }, id) => {
      const result = attempt(() => execute(inventoryAggregate, sku, InventoryCommand.Reserve({ orderId, quantity, at: at() }), id))
      return "ok" in result ? { reserved: true } : { reserved: false, reason: result.refused.message }
    },
    release: ({ orderId, sku }, id) => (execute(inventoryAggregate, sku, InventoryCommand.Release({ orderId, at: at() }), id), {}),
    "ship-stock": ({ orderId, sku }, id) => (execute(inventoryAggregate, sku, InventoryCommand.Commit({ orderId, at: at() }), id), {}),
    authorize: ({ amountCents, attempt: n, currency, method, orderId, paymentId }, id) => {
      const state = execute(paymentAggregate, orderId, PaymentCommand.Request({ attempt: n, paymentId, amountCents, currency, method, at: at() }), id)
      const recorded = attemptOf(state as PaymentState, n)!
      if (recorded.status !== "requested") {
        return recorded.authorizationId !== null && (recorded.status === "authorized" || recorded.status === "captured")
          ? { approved: true, authorizationId: recorded.authorizationId }
          : { approved: false, timedOut: recorded.status === "timedOut" || recorded.status === "voided", reason: recorded.reason ?? recorded.status }
      }
      let payment = provider.get(paymentId)
      if (payment === undefined) {
        const status = method === "test-decline" ? "declined" : method === "test-timeout" || method === "test-late" ? "timeout" : "approved"
        payment = { status, amountCents, captures: 0, refunds: 0, late: method === "test-late" }
        provider.set(paymentId, payment)
      } else if (payment.late && payment.status === "timeout") {
        payment.status = "approved"
      }
      switch (payment.status) {
        case "approved":
          execute(paymentAggregate, orderId, PaymentCommand.RecordAuthorization({ attempt: n, authorizationId: `auth-${paymentId}`, at: at() }), id)
          return { approved: true, authorizationId: `auth-${paymentId}` }
        case "declined":
          execute(paymentAggregate, orderId, PaymentCommand.RecordDecline({ attempt: n, reason: "card declined", at: at() }), id)
          return { approved: false, timedOut: false, reason: "card declined" }
        default:
          execute(paymentAggregate, orderId, PaymentCommand.RecordTimeout({ attempt: n, at: at() }), id)
          return { approved: false, timedOut: true, reason: "no answer" }
      }
    },
    capture: ({ attempt: n, orderId, paymentId }, id) => {
      const payment = provider.get(paymentId)
      if (payment === undefined || (payment.status !== "approved" && payment.status !== "captured")) {
        return { captured: false, reason: `payment is ${payment?.status ?? "unknown"}` }
      }
      if (payment.status === "approved") {
        payment.status = "captured"
        payment.captures++
      }
      execute(paymentAggregate, orderId, PaymentCommand.RecordCapture({ attempt: n, at: at() }), id)
      return { captured: true }
    },
    void: ({ attempt: n, orderId, paymentId }, id) => {
      const payment = provider.get(paymentId)
      if (payment !== undefined && (payment.status === "approved" || payment.status === "timeout")) payment.status = "voided"
      attempt(() => execute(paymentAggregate, orderId, PaymentCommand.RecordVoid({ attempt: n, at: at() }), id))
      return {}
    },
    refund: ({ amountCents, attempt: n, orderId, paymentId }, id) => {
      const payment = provider.get(paymentId)!
      if (payment.status === "captured") {
        payment.status = "refunded"
        payment.refunds++
      }
      execute(paymentAggregate, orderId, PaymentCommand.RecordRefund({ attempt: n, amountCents, at: at() }), id)
      return {}
    },
    "order-paid": ({ attempt: n, orderId }, id) => {
      const result = attempt(() => execute(orderAggregate, orderId, OrderCommand.RecordPayment({ attempt: n, at: at() }), id))
      return "ok" in result ? { recorded: true } : { recorded: false, reason: result.refused.message }
    },
    "order-declined": ({ attempt: n, orderId, reason }, id) => (attempt(() => execute(orderAggregate, orderId, OrderCommand.DeclinePayment({ attempt: n, reason, at: at() }), id)), {}),
    "order-refunded": ({ amountCents, orderId }, id) => (execute(orderAggregate, orderId, OrderCommand.RecordRefund({ amountCents, at: at() }), id), {}),
    "cancel-order": ({ orderId, reason }, id) => {
      const result = attempt(() => execute(orderAggregate, orderId, OrderCommand.Cancel({ reason, at: at() }), id))
      return "refused" in result && result.refused.rule === "no-cancel-after-shipping" ? { cancelled: false, rule: result.refused.rule } : { cancelled: true }
    }
  }

  const sagaStream = (orderId: string) => streamOf(saga, orderId) as Stream<SagaState<FulfilmentState>>
  const sagaCommand = (orderId: string, command: SagaCommand, commandId: string) => execute(saga, orderId, command, commandId)

  /** How far the feed has read the log. */
  let fed = 0
  /** Step runs by the fault injected into them. */
  const runs: Record<Fault, number> = { none: 0, fail: 0, "crash-after": 0 }

  return {
    settings,
    log,
    provider,
    now: () => now,
    advance: (ms: number) => void (now += ms),
    order: (id: string) => streamOf(orderAggregate, id).state as OrderState,
    orderVersion: (id: string) => streamOf(orderAggregate, id).version,
    inventory: (sku: string) => streamOf(inventoryAggregate, sku).state as InventoryState,
    payment: (id: string) => streamOf(paymentAggregate, id).state as PaymentState,
    saga: (id: string) => sagaStream(id).state,
    lowestAvailable: () => lowestAvailable,
    reservationOf: (sku: string, orderId: string) => reservationOf(streamOf(inventoryAggregate, sku).state as InventoryState, orderId),
    /** A command from a person (customer, staff): refusals are answers, not errors. */
    command: (definition: AggregateDefinition<any, any, any>, id: string, command: any) => attempt(() => execute(definition, id, command)),
    /** Hands the next event of the log to the saga it belongs to (`twice`: a duplicate delivery too); false when none is left. */
    feedNext: (twice = false) => {
      const event = log[fed]
      if (event === undefined) return false
      fed++
      if (event.streamType === "order") {
        const command: SagaCommand = { _tag: "Observe", event, cause: event.eventId, at: at() }
        sagaCommand(event.streamId, command, `observe:${event.eventId}`)
        if (twice) sagaCommand(event.streamId, command, `observe:${event.eventId}`)
      }
      return true
    },
    pendingFeed: () => log.length - fed,
    runs: () => ({ ...runs }),
    /** Sagas with a step or timer due now. */
    dueSagas: () =>
      [...streams.entries()]
        .filter(([key]) => key.startsWith("fulfilment/"))
        .map(([key, stream]) => ({ id: key.slice("fulfilment/".length), state: stream.state as SagaState<FulfilmentState> }))
        .filter(({ state }) => dueSteps(state, at()).length > 0 || dueTimers(state, at()).length > 0)
        .map(({ id }) => id),
    /** Runs one due step of a saga, or fires one due timer; `fault` says what goes wrong. */
    wakeOnce: (orderId: string, fault: Fault = "none") => {
      const state = sagaStream(orderId).state
      const timer = dueTimers(state, at())[0]
      if (timer !== undefined) {
        sagaCommand(orderId, { _tag: "FireTimer", timer, cause: `timer:${timer}`, at: at() }, `timer:${timer}:${state.timers[timer]}`)
        return
      }
      const step: StepState | undefined = dueSteps(state, at())[0]
      if (step === undefined) return
      runs[fault]++
      if (fault === "fail") {
        sagaCommand(orderId, { _tag: "FailStep", step: step.step, error: "injected", cause: "x", at: at() }, `fail:${step.step}:${step.attempts + 1}`)
        return
      }
      let output: unknown
      try {
        output = handlers[step.kind]!(step.input, `step:${orderId}:${step.step}`)
      } catch (error) {
        if (error instanceof Refused) throw new Error(`${orderId} ${step.step} was refused: ${error.rule}: ${error.message}`)
        throw error
      }
      if (fault === "crash-after") return
      sagaCommand(orderId, { _tag: "CompleteStep", step: step.step, output, cause: "x", at: at() }, `complete:${step.step}`)
    },
    sagaCommand
  }
}

export type World = ReturnType<typeof makeWorld>

/** Feeds and wakes until nothing is due, with time moving on to each next due moment (timers fire). */
export const settle = (world: World, until?: number) => {
  for (let guard = 0; guard < 100_000; guard++) {
    if (world.feedNext()) continue
    const due = world.dueSagas()
    if (due.length > 0) {
      world.wakeOnce(due[0]!)
      continue
    }
    const next = nextDue(world)
    if (next === null || (until !== undefined && next > until)) return
    world.advance(Math.max(1, next - world.now()))
  }
  throw new Error("the world did not settle")
}

const nextDue = (world: World): number | null => {
  let next: number | null = null
  for (const id of sagaIds(world)) {
    const state = world.saga(id)
    if (state.status !== "running") continue
    for (const step of state.steps) if (step.status === "scheduled") next = Math.min(next ?? Infinity, Date.parse(step.notBefore))
    for (const dueAt of Object.values(state.timers)) next = Math.min(next ?? Infinity, Date.parse(dueAt))
  }
  return next
}

export const sagaIds = (world: World) => [...new Set(world.log.filter((event) => event.streamType === "order").map((event) => event.streamId))]

/** Places and confirms an order of these lines (sku → quantity) at 1000 cents a unit. */
export const confirmedOrder = (world: World, orderId: string, lines: Record<string, number>) => {
  const orderLines = Object.entries(lines).map(([sku, quantity]) => ({ sku, quantity, unitPriceCents: 1000 }))
  const at = new Date(world.now()).toISOString()
  world.command(orderAggregate, orderId, OrderCommand.PlaceOrder({ customerId: "c1", currency: "EUR", lines: orderLines, at }))
  world.command(orderAggregate, orderId, OrderCommand.Confirm({ at }))
  return fold((total: number, line: { quantity: number; unitPriceCents: number }) => total + line.quantity * line.unitPriceCents, 0, orderLines)
}

export const stock = (world: World, sku: string, onHand: number) =>
  world.command(inventoryAggregate, sku, InventoryCommand.SetStock({ onHand, at: new Date(world.now()).toISOString() }))

export const pay = (world: World, orderId: string, method = "card") =>
  world.command(orderAggregate, orderId, OrderCommand.Pay({ amountCents: world.order(orderId).totalCents, method, at: new Date(world.now()).toISOString() }))

/** The end-state invariant of one order, as a list of what is wrong with it (empty: it holds). */
export const invariantBreaches = (world: World, orderId: string): ReadonlyArray<string> => {
  const order = world.order(orderId)
  const payments = world.payment(orderId).attempts.map((attempt) => world.provider.get(attempt.paymentId)).filter((p) => p !== undefined)
  const captures = payments.reduce((n, p) => n + p!.captures, 0)
  const refunds = payments.reduce((n, p) => n + p!.refunds, 0)
  const held = order.lines.filter((line) => world.reservationOf(line.sku, orderId) !== undefined)
  const problems: Array<string> = []
  if (order.status === "paid") {
    if (captures !== 1 || refunds !== 0) problems.push(`paid with ${captures} captures and ${refunds} refunds`)
    if (held.length !== order.lines.length) problems.push(`paid with ${held.length} of ${order.lines.length} lines reserved`)
  } else if (order.status === "shipped" || order.status === "delivered") {
    if (captures !== 1 || refunds !== 0) problems.push(`shipped with ${captures} captures and ${refunds} refunds`)
    if (held.length !== 0) problems.push(`shipped with ${held.length} reservations left`)
  } else if (order.status === "cancelled") {
    if (captures !== refunds) problems.push(`cancelled with ${captures} captures and ${refunds} refunds`)
    if (held.length !== 0) problems.push(`cancelled with ${held.map((line) => line.sku).join(", ")} still reserved`)
    if (captures > 0 && order.refundedCents === null) problems.push("refunded, but the order does not say so")
  } else {
    problems.push(`ended ${order.status}`)
  }
  return problems
}
