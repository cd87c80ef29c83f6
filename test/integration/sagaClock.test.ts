/**
 * The saga's timeouts under Effect's TestClock: the process manager and its actors run in the test's
 * fibers, so its clock is the test's. Nothing waits in real time: the test moves the clock, and the
 * reservation expires, or the provider's silence becomes a timeout. (Moving it runs every timer on
 * the way — polls, heartbeats, each a query — so the times here are minutes, not a quarter hour.) Everything else
 * is real: PostgreSQL, the local payment provider over HTTP.
 */
import { expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Option, TestClock } from "effect"
import { randomUUID } from "node:crypto"
import { FulfilmentSagas, InventoryActors, OrderActors } from "../../src/aggregates.js"
import { SagasLive } from "../../src/app.js"
import { InventoryCommand } from "../../src/domain/inventory/index.js"
import { OrderCommand } from "../../src/domain/order/index.js"
import { startDevPaymentProvider } from "../../src/payments/DevPaymentProvider.js"
import { runMigrationsOn, scratchDatabase } from "../support/databases.js"
import { testConfig } from "../support/layers.js"

/** A real pause: the test's clock stands still, but PostgreSQL and HTTP do not. */
const realPause = Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))

const metadata = { correlationId: "clock-test", causationId: null, userId: null, role: "service" } as const

const sagaRunning = Effect.gen(function*() {
  const database = yield* scratchDatabase
  yield* runMigrationsOn(database.url)
  const sink = yield* Effect.acquireRelease(
    Effect.promise(() => startDevPaymentProvider({ port: 0 })),
    (provider) => Effect.promise(() => provider.close())
  )
  const context = yield* Layer.build(SagasLive.pipe(Layer.provide(testConfig({
    databaseUrl: database.url,
    payments: { providerUrl: Option.some(sink.url), timeout: Duration.seconds(10) },
    // Moving the clock runs every poll on the way (each a query): few polls keep that short; but
    // often enough that the feed reads again within a few seconds of the test's clock when a commit's
    // NOTIFY found the log's horizon held back by another database's transaction (which notifies
    // nothing here when it ends).
    sagas: { enabled: true, pollInterval: Duration.seconds(2), reservationTtl: Duration.minutes(2) }
  }))))
  const orders = Context.get(context, OrderActors)
  const sagas = Context.get(context, FulfilmentSagas)
  const at = new Date(0).toISOString()
  const sku = `SKU-${randomUUID().slice(0, 8)}`
  yield* Context.get(context, InventoryActors).execute(sku, InventoryCommand.SetStock({ onHand: 5, at }), { metadata })
  const orderId = randomUUID()
  yield* orders.execute(orderId, OrderCommand.PlaceOrder({ customerId: randomUUID(), currency: "EUR", lines: [{ sku, quantity: 2, unitPriceCents: 300 }], at }), { metadata })
  yield* orders.execute(orderId, OrderCommand.Confirm({ at }), { metadata })

  /**
   * Waits in real time until the saga's state passes `ready`; with `ticking`, the clock moves 10 s
   * each time too (a waker that was busy when the clock jumped sleeps from the new time on); without,
   * 20 ms each time.
   */
  const until = (ready: (phase: string, status: string) => boolean, ticking = false) =>
    Effect.gen(function*() {
      for (let i = 0; i < 200; i++) {
        const { state } = yield* sagas.read(orderId)
        if (state.status !== "none" && ready(state.data.phase, state.status)) return state
        // Not ticking still creeps (4 s in all, less than any timeout here), so that polls come.
        yield* TestClock.adjust(ticking ? "10 seconds" : "20 millis")
        yield* realPause
      }
      return yield* Effect.dieMessage(`the saga of ${orderId} did not get there: ${JSON.stringify((yield* sagas.read(orderId)).state)}`)
    })
  return { orders, orderId, until, sku, inventory: Context.get(context, InventoryActors) }
})

it.scoped("the reservation expires when the clock passes its time to live, not before", () =>
  Effect.gen(function*() {
    const { inventory, orderId, orders, sku, until } = yield* sagaRunning
    const waiting = yield* until((phase) => phase === "awaitingPayment", true)
    // Due two minutes after the stock was held, by the saga's clock.
    const held = Date.parse(waiting.steps.at(-1)!.finishedAt!)
    const due = Date.parse(Object.values(waiting.timers)[0]!)
    expect(due - held).toBe(2 * 60_000)
    yield* TestClock.adjust(Duration.millis(due - 10_000 - (yield* TestClock.currentTimeMillis)))
    yield* realPause
    expect((yield* orders.read(orderId)).state.status).toBe("confirmed")
    yield* TestClock.adjust("10 seconds")
    const done = yield* until((_, status) => status === "finished", true)
    expect(done).toMatchObject({ outcome: "cancelled", data: { cancelReason: "reservation-expired" } })
    expect((yield* orders.read(orderId)).state).toMatchObject({ status: "cancelled", cancelReason: "reservation-expired" })
    expect((yield* inventory.read(sku)).state.reservations).toEqual({})
  }), { timeout: 60_000 })

it.scoped("a provider that does not answer: when the clock passes the payment timeout, the payment is voided and declined", () =>
  Effect.gen(function*() {
    const { orderId, orders, until } = yield* sagaRunning
    yield* until((phase) => phase === "awaitingPayment", true)
    const at = new Date(yield* TestClock.currentTimeMillis).toISOString()
    yield* orders.execute(orderId, OrderCommand.Pay({ amountCents: 600, method: "test-timeout", at }), { metadata })
    // The authorization waits on the provider; the clock has not moved, so it is not late yet.
    const paying = yield* until((phase) => phase === "paying")
    expect(paying.steps.at(-1)).toMatchObject({ step: "authorize:1", status: "scheduled" })
    yield* TestClock.adjust("10 seconds")
    const declined = yield* until((phase) => phase === "awaitingPayment", true)
    expect(declined.steps.map((step) => step.step).slice(-3)).toEqual(["authorize:1", "void:1", "order-declined:1"])
    expect((yield* orders.read(orderId)).state).toMatchObject({ status: "confirmed", lastDecline: { attempt: 1 } })
  }), { timeout: 60_000 })
