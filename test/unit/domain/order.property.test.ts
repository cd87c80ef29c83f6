import { Either, FastCheck as fc } from "effect"
import { describe, expect, it } from "vitest"
import { fold } from "../../../src/domain/aggregate.js"
import { type OrderCommand, type OrderEvent, orderAggregate, type OrderState } from "../../../src/domain/order/index.js"
import { totalOf } from "../../../src/domain/order/state.js"
import { type OrderScript, orderScript, placeCommand, toCommand } from "../../support/orderHistories.js"

const customerId = "0d7e1f0a-93b4-4b55-8d8e-6a0a0e5f3c21"

/** Runs a script through the decider alone, keeping the accepted events and the state after each. */
const run = (script: OrderScript) => {
  let state: OrderState = orderAggregate.initialState
  const history: Array<OrderEvent> = []
  const states: Array<OrderState> = []
  const apply = (command: OrderCommand) => {
    const decision = orderAggregate.decide(command, state)
    if (Either.isLeft(decision)) return
    history.push(...decision.right)
    state = fold(orderAggregate.evolve, state, decision.right)
    states.push(state)
  }
  apply(placeCommand(script, customerId))
  for (const intent of script.intents) apply(toCommand(intent, state))
  return { state, history, states }
}

describe("Order history properties", () => {
  it("replaying the history gives the state built command by command", () =>
    fc.assert(
      fc.property(orderScript, (script) => {
        const { history, state } = run(script)
        expect(fold(orderAggregate.evolve, orderAggregate.initialState, history)).toEqual(state)
      }),
      { numRuns: 500 }
    ))

  it("replay of any prefix plus the rest equals replay of the whole (a snapshot at any point is safe)", () =>
    fc.assert(
      fc.property(orderScript, fc.nat(), (script, cut) => {
        const { history, state } = run(script)
        const at = history.length === 0 ? 0 : cut % (history.length + 1)
        const prefix = fold(orderAggregate.evolve, orderAggregate.initialState, history.slice(0, at))
        expect(fold(orderAggregate.evolve, prefix, history.slice(at))).toEqual(state)
      }),
      { numRuns: 300 }
    ))

  it("a snapshot at any point, stored as JSON and read back, plus the tail gives the state of a full replay", () =>
    fc.assert(
      fc.property(orderScript, fc.nat(), (script, cut) => {
        const { history, state } = run(script)
        const codec = orderAggregate.snapshots!.codec
        const at = history.length === 0 ? 0 : cut % (history.length + 1)
        const prefix = fold(orderAggregate.evolve, orderAggregate.initialState, history.slice(0, at))
        const stored: unknown = JSON.parse(JSON.stringify(codec.encode(prefix)))
        const restored = Either.getOrThrow(codec.decode(stored))
        expect(fold(orderAggregate.evolve, restored, history.slice(at))).toEqual(state)
      }),
      { numRuns: 300 }
    ))

  it("every state the decider lets an order reach keeps the rules", () =>
    fc.assert(
      fc.property(orderScript, (script) => {
        for (const state of run(script).states) {
          expect(state.status).not.toBe("none")
          expect(state.lines.length).toBeGreaterThanOrEqual(1)
          expect(state.lines.length).toBeLessThanOrEqual(100)
          expect(new Set(state.lines.map((line) => line.sku)).size).toBe(state.lines.length)
          for (const line of state.lines) {
            expect(line.quantity).toBeGreaterThanOrEqual(1)
            expect(line.quantity).toBeLessThanOrEqual(1000)
          }
          expect(state.totalCents).toBe(totalOf(state.lines))
          if (state.payment !== null) expect(state.payment.amountCents).toBe(state.totalCents)
          if (state.status === "shipped" || state.status === "delivered") expect(state.payment).not.toBeNull()
        }
      }),
      { numRuns: 500 }
    ))
})
