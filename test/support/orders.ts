/** Order commands and runtime settings for runtime tests. */
import { Duration } from "effect"
import { randomUUID } from "node:crypto"
import type { RuntimeSettings } from "../../src/config.js"
import { OrderCommand } from "../../src/domain/order/index.js"
import type { CommandOptions } from "../../src/runtime/AggregateActor.js"

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
