/**
 * Load for benchmarks: order lives through the actor runtime at a steady rate, and backlogs written
 * straight to the event store (with their outbox rows), both shaped like real order traffic.
 */
import { Duration, Effect, Either, FiberSet, Ref } from "effect"
import { randomUUID } from "node:crypto"
import { orderAggregate, OrderCommand, type OrderState } from "../../src/domain/order/index.js"
import { EventStore, type NewEvent } from "../../src/eventstore/EventStore.js"
import { makeActorSystem } from "../../src/runtime/ActorSystem.js"
import { withProgress } from "./progress.js"

const at = "2026-01-01T00:00:00.000Z"

/**
 * The commands of one order's life: 7 events, 5 of which customers hear about. The payment is asked
 * for and then recorded as captured, as the fulfilment saga would (no saga runs here: these are the
 * order's own events, at the rate the runtime takes them).
 */
export const lifeOf = (step: number, state: OrderState): OrderCommand => {
  switch (step) {
    case 0:
      return OrderCommand.PlaceOrder({
        customerId: randomUUID(),
        currency: "EUR",
        lines: [{ sku: "sku-1", quantity: 2, unitPriceCents: 1250 }, { sku: "sku-2", quantity: 1, unitPriceCents: 399 }],
        at
      })
    case 1:
      return OrderCommand.AddItem({ sku: "sku-3", quantity: 3, unitPriceCents: 720, at })
    case 2:
      return OrderCommand.Confirm({ at })
    case 3:
      return OrderCommand.Pay({ amountCents: state.totalCents, method: "card", at })
    case 4:
      return OrderCommand.RecordPayment({ attempt: state.paymentAttempts, at })
    case 5:
      return OrderCommand.Ship({ carrier: "DHL", trackingNumber: "JD014600003958", at })
    default:
      return OrderCommand.Deliver({ at })
  }
}
export const LIFE_LENGTH = 7
/** The events of a life that customers hear about (Order's notify). */
export const NOTIFIED = new Set(["OrderConfirmed", "PaymentRequested", "OrderPaid", "OrderShipped", "OrderDelivered"])

/**
 * Issues order commands through the runtime at `rate` per second for `seconds`; each is one event.
 * Each answer's latency is taken from the command's due time.
 */
export const steadyLoad = (
  rate: number,
  seconds: number,
  onProgress: (issued: number) => void,
  onAnswered: (millis: number) => void,
  /** Told of each command as it is sent: which order, which step of its life, and when it was due. */
  onSent: (orderId: string, step: number, dueAt: number) => void = () => undefined
) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const orders = yield* makeActorSystem(orderAggregate, store, {
      mailboxCapacity: 1024,
      idleTimeout: Duration.minutes(5),
      maxActors: 100_000,
      conflictRetries: 5
    })
    const running = yield* FiberSet.make()
    /** Orders whose last command was answered and that have more to do. */
    const ready: Array<{ id: string; step: number; state: OrderState }> = []
    const total = rate * seconds
    const started = Date.now()
    let issued = 0
    while (issued < total) {
      const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * rate))
      for (; issued < due; issued++) {
        const order = ready.shift() ?? { id: randomUUID(), step: 0, state: orderAggregate.initialState }
        // Latency counts from when the command was due, not from when the loop got to it: a stalled
        // sender must not hide the wait it caused (coordinated omission).
        const sent = started + (issued / rate) * 1000
        onSent(order.id, order.step, sent)
        yield* FiberSet.run(
          running,
          orders.execute(order.id, lifeOf(order.step, order.state), {
            metadata: { correlationId: randomUUID(), causationId: null, userId: "bench" }
          }).pipe(
            Effect.tap((result) =>
              Effect.sync(() => {
                onAnswered(Date.now() - sent)
                if (order.step + 1 < LIFE_LENGTH) ready.push({ id: order.id, step: order.step + 1, state: result.state })
              })
            ),
            Effect.orDie
          )
        )
      }
      onProgress(issued)
      yield* Effect.sleep("2 millis")
    }
    yield* FiberSet.awaitEmpty(running)
  }).pipe(Effect.scoped)

/**
 * The commands of an order with `length` events: placed, items added one per event (a line each,
 * up to the domain's 100 lines), then confirmed, paid (asked, captured), shipped and delivered as far
 * as it reaches.
 */
export const longLifeOf = (length: number) => (step: number, state: OrderState): OrderCommand => {
  const tail = Math.min(LIFE_LENGTH - 2, Math.max(0, length - 1))
  if (step === 0 || step >= length - tail) return lifeOf(step === 0 ? 0 : LIFE_LENGTH - (length - step), state)
  return OrderCommand.AddItem({ sku: `sku-${step + 2}`, quantity: 1 + (step % 5), unitPriceCents: 100 + step, at })
}

/**
 * Appends about `events` events straight to the event store (with their outbox rows), as orders of
 * `streamLength` events each, one append per order, 8 at a time.
 */
export const writeBacklog = (events: number, quiet: boolean, streamLength = LIFE_LENGTH) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const orders = Math.ceil(events / streamLength)
    const commandOf = streamLength === LIFE_LENGTH ? lifeOf : longLifeOf(streamLength)
    const written = yield* Ref.make(0)
    yield* withProgress("writing the backlog", orders * streamLength, quiet, (progress) =>
      Effect.forEach(Array.from({ length: orders }, (_, i) => i), () =>
        Effect.gen(function*() {
          let state = orderAggregate.initialState
          const newEvents: Array<NewEvent> = []
          for (let step = 0; step < streamLength; step++) {
            const decided = orderAggregate.decide(commandOf(step, state), state)
            if (Either.isLeft(decided)) return yield* Effect.dieMessage(decided.left.message)
            for (const event of decided.right) {
              state = orderAggregate.evolve(state, event)
              newEvents.push({
                eventId: randomUUID(),
                ...orderAggregate.events.encode(event),
                metadata: { correlationId: randomUUID(), causationId: null, userId: "bench" },
                notification: orderAggregate.notify!(event, state)
              })
            }
          }
          yield* store.append({ streamId: randomUUID(), streamType: "order", expectedVersion: 0, events: newEvents })
          const total = yield* Ref.updateAndGet(written, (n) => n + newEvents.length)
          progress.update(total, { unit: "events", detail: "" })
        }), { concurrency: 8, discard: true }))
    return orders * streamLength
  })
