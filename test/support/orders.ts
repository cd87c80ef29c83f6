/** Order commands and runtime settings for runtime tests. */
import { Duration, Effect } from "effect"
import { randomUUID } from "node:crypto"
import { OrderActors } from "../../src/aggregates.js"
import type { RuntimeSettings } from "../../src/config.js"
import { OrderCommand, type OrderEvent, type OrderState } from "../../src/domain/order/index.js"
import type { ActorSystem } from "../../src/runtime/ActorSystem.js"
import type { CommandOptions } from "../../src/runtime/AggregateActor.js"
import { type OrderScript, placeCommand, toCommand } from "./orderHistories.js"

export const at = "2026-05-06T07:08:09.000Z"

export const settings = (overrides: Partial<RuntimeSettings> = {}): RuntimeSettings => ({
  mailboxCapacity: 1024,
  idleTimeout: Duration.minutes(5),
  maxActors: 10_000,
  conflictRetries: 5,
  ...overrides
})

export const options = (overrides: Partial<CommandOptions> = {}): CommandOptions => ({
  metadata: { correlationId: randomUUID(), causationId: null, userId: null },
  ...overrides
})

export const placeOrder = (lines = [{ sku: "A", quantity: 1, unitPriceCents: 100 }]) =>
  OrderCommand.PlaceOrder({ customerId: randomUUID(), currency: "EUR", lines, at })

export const addOne = (sku = "A") => OrderCommand.AddItem({ sku, quantity: 1, unitPriceCents: 100, at })

/** Runs a random order script through an actor system (refused commands included); gives the order id. */
export const runScript = (
  orders: ActorSystem<OrderState, OrderCommand, OrderEvent>,
  script: OrderScript
) =>
  Effect.gen(function*() {
    const id = randomUUID()
    yield* Effect.exit(orders.execute(id, placeCommand(script, randomUUID()), options()))
    for (const intent of script.intents) {
      const { state } = yield* orders.read(id)
      yield* Effect.exit(orders.execute(id, toCommand(intent, state), options()))
    }
    return id
  })

/**
 * Records an order's pending payment as captured, as the fulfilment saga does once the provider
 * captured it: for tests on the shared database, where no saga runs (see vitest.config.ts).
 */
export const recordCapture = (orderId: string) =>
  Effect.gen(function*() {
    const orders = yield* OrderActors
    const { state } = yield* orders.read(orderId)
    return yield* orders.execute(orderId, OrderCommand.RecordPayment({ attempt: state.paymentAttempts, at }), {
      metadata: { correlationId: orderId, causationId: null, userId: null, role: "service" }
    })
  })
