/**
 * What the fulfilment saga's steps do: commands to the order, inventory and payment aggregates, and
 * calls to the payment provider. Each runs at least once: its commands carry the step's name (a
 * repeat is answered as replayed, never applied twice) and the provider's calls the payment's
 * idempotency keys. Where a step may be repeated after the world moved on, it first reads what the
 * payment aggregate recorded, so that it answers what happened rather than asking again.
 *
 * A refusal that is a business outcome (no stock, a declined card, an order cancelled meanwhile) is
 * the step's answer, for the saga to decide on; anything else fails the attempt, which is retried.
 */
import { Effect } from "effect"
import { InventoryActors, OrderActors, PaymentActors } from "../../aggregates.js"
import { InventoryCommand } from "../../domain/inventory/index.js"
import { OrderCommand } from "../../domain/order/index.js"
import { attemptOf, PaymentCommand, type PaymentState } from "../../domain/payment/index.js"
import { PaymentProvider } from "../../payments/PaymentProvider.js"
import type { ActorSystem } from "../../runtime/ActorSystem.js"
import type { CommandResult } from "../../runtime/AggregateActor.js"
import { type StepContext, StepError, type StepHandler } from "../ProcessManager.js"
import type { StepContracts, StepKind } from "./definition.js"

type Handlers = { readonly [K in StepKind]: (input: StepContracts[K]["input"], context: StepContext) => Effect.Effect<StepContracts[K]["output"], StepError> }

const failed = (error: { readonly _tag: string; readonly message: string }) =>
  new StepError({ message: `${error._tag}${error.message === "" ? "" : `: ${error.message}`}` })

/** A refusal by one of these rules is an answer; any other failure fails the attempt. */
const refusedBy = <A, E extends { readonly _tag: string; readonly message: string }>(
  effect: Effect.Effect<A, E>,
  rules: ReadonlyArray<string>
): Effect.Effect<{ readonly _tag: "Done"; readonly value: A } | { readonly _tag: "Refused"; readonly rule: string; readonly message: string }, StepError> =>
  effect.pipe(
    Effect.map((value) => ({ _tag: "Done" as const, value })),
    Effect.catchAll((error) => {
      const rule = (error as { readonly rule?: string }).rule
      return error._tag === "RuleViolated" && rule !== undefined && rules.includes(rule)
        ? Effect.succeed({ _tag: "Refused" as const, rule, message: error.message })
        : Effect.fail(failed(error))
    })
  )

export const fulfilmentSteps = Effect.gen(function*() {
  const orders = yield* OrderActors
  const inventory = yield* InventoryActors
  const payments = yield* PaymentActors
  const provider = yield* PaymentProvider

  /** Sends a command named after the step and its kind. */
  const sender = <S, C extends { readonly _tag: string }, E>(actors: ActorSystem<S, C, E>) => (id: string, command: C, context: StepContext) =>
    actors.execute(id, command, { metadata: context.metadataFor(command._tag) })
  const toOrder = sender(orders)
  const toStock = sender(inventory)
  const toPayment = sender(payments)
  /** The payment aggregate's command; its state after it tells what was recorded. */
  const payment = (orderId: string, command: PaymentCommand, context: StepContext) =>
    toPayment(orderId, command, context).pipe(Effect.mapError(failed))
  const attemptIn = (result: CommandResult<PaymentState, unknown>, attempt: number) => attemptOf(result.state, attempt)

  const handlers: Handlers = {
    "read-order": ({ orderId }) =>
      orders.read(orderId).pipe(
        Effect.mapError(failed),
        Effect.map(({ state }) => ({
          currency: state.currency ?? "",
          totalCents: state.totalCents,
          lines: state.lines.map(({ quantity, sku }) => ({ sku, quantity }))
        }))
      ),
    reserve: ({ orderId, quantity, sku }, context) =>
      refusedBy(toStock(sku, InventoryCommand.Reserve({ orderId, quantity, at: context.at }), context), [
        "insufficient-stock",
        "reservation-exists"
      ]).pipe(Effect.map((outcome) => (outcome._tag === "Done" ? { reserved: true as const } : { reserved: false as const, reason: outcome.message }))),
    release: ({ orderId, sku }, context) =>
      toStock(sku, InventoryCommand.Release({ orderId, at: context.at }), context).pipe(
        Effect.mapError(failed),
        Effect.as({})
      ),
    "ship-stock": ({ orderId, sku }, context) =>
      toStock(sku, InventoryCommand.Commit({ orderId, at: context.at }), context).pipe(
        Effect.mapError(failed),
        Effect.as({})
      ),
    authorize: ({ amountCents, attempt, currency, method, orderId, paymentId }, context) =>
      Effect.gen(function*() {
        const requested = yield* payment(
          orderId,
          PaymentCommand.Request({ attempt, paymentId, amountCents, currency, method, at: context.at }),
          context
        )
        // Repeated after it was answered: what was recorded then is the answer.
        const recorded = attemptIn(requested, attempt)
        if (recorded !== undefined && recorded.status !== "requested") {
          return recorded.authorizationId !== null && (recorded.status === "authorized" || recorded.status === "captured")
            ? { approved: true as const, authorizationId: recorded.authorizationId }
            : { approved: false as const, timedOut: recorded.status === "timedOut" || recorded.status === "voided", reason: recorded.reason ?? recorded.status }
        }
        const answer = yield* provider.authorize({ paymentId, amountCents, currency, method }).pipe(
          Effect.catchTag("ProviderTimeout", () => Effect.succeed({ _tag: "TimedOut" as const })),
          Effect.mapError(failed)
        )
        switch (answer._tag) {
          case "Approved":
            yield* payment(orderId, PaymentCommand.RecordAuthorization({ attempt, authorizationId: answer.authorizationId, at: context.at }), context)
            return { approved: true as const, authorizationId: answer.authorizationId }
          case "Declined":
            yield* payment(orderId, PaymentCommand.RecordDecline({ attempt, reason: answer.reason, at: context.at }), context)
            return { approved: false as const, timedOut: false, reason: answer.reason }
          case "TimedOut":
            yield* payment(orderId, PaymentCommand.RecordTimeout({ attempt, at: context.at }), context)
            return { approved: false as const, timedOut: true, reason: "the payment provider did not answer in time" }
        }
      }),
    capture: ({ amountCents, attempt, authorizationId, orderId, paymentId }, context) =>
      Effect.gen(function*() {
        const captured = yield* provider.capture({ paymentId, authorizationId, amountCents }).pipe(
          Effect.as({ captured: true as const }),
          Effect.catchTag("ProviderRefused", (refused) => Effect.succeed({ captured: false as const, reason: refused.reason })),
          Effect.mapError(failed)
        )
        if (captured.captured) yield* payment(orderId, PaymentCommand.RecordCapture({ attempt, at: context.at }), context)
        return captured
      }),
    void: ({ attempt, orderId, paymentId }, context) =>
      Effect.gen(function*() {
        // Refused: there was nothing to void (declined, or never authorized there).
        yield* provider.void(paymentId).pipe(Effect.catchTag("ProviderRefused", () => Effect.void), Effect.mapError(failed))
        yield* refusedBy(toPayment(orderId, PaymentCommand.RecordVoid({ attempt, at: context.at }), context), ["not-voidable"])
        return {}
      }),
    refund: ({ amountCents, attempt, orderId, paymentId }, context) =>
      Effect.gen(function*() {
        yield* provider.refund({ paymentId, amountCents }).pipe(Effect.mapError(failed))
        yield* payment(orderId, PaymentCommand.RecordRefund({ attempt, amountCents, at: context.at }), context)
        return {}
      }),
    "order-paid": ({ attempt, orderId }, context) =>
      refusedBy(toOrder(orderId, OrderCommand.RecordPayment({ attempt, at: context.at }), context), [
        "order-cancelled",
        "no-payment-pending"
      ]).pipe(Effect.map((outcome) => (outcome._tag === "Done" ? { recorded: true as const } : { recorded: false as const, reason: outcome.message }))),
    "order-declined": ({ attempt, orderId, reason }, context) =>
      refusedBy(toOrder(orderId, OrderCommand.DeclinePayment({ attempt, reason, at: context.at }), context), [
        "order-cancelled",
        "no-payment-pending"
      ]).pipe(Effect.as({})),
    "order-refunded": ({ amountCents, orderId }, context) =>
      toOrder(orderId, OrderCommand.RecordRefund({ amountCents, at: context.at }), context).pipe(
        Effect.mapError(failed),
        Effect.as({})
      ),
    "cancel-order": ({ orderId, reason }, context) =>
      refusedBy(toOrder(orderId, OrderCommand.Cancel({ reason, at: context.at }), context), [
        "order-cancelled",
        "no-cancel-after-shipping"
      ]).pipe(Effect.map((outcome) =>
        outcome._tag === "Refused" && outcome.rule === "no-cancel-after-shipping"
          ? { cancelled: false as const, rule: outcome.rule }
          : { cancelled: true as const }
      ))
  }
  return handlers as unknown as Readonly<Record<string, StepHandler>>
})
