import { Either, FastCheck as fc } from "effect"
import { describe, expect, it } from "vitest"
import { fold } from "../../../src/domain/aggregate.js"
import {
  availableOf,
  InventoryCommand,
  type InventoryEvent,
  inventoryAggregate,
  type InventoryState,
  reservedOf
} from "../../../src/domain/inventory/index.js"

const at = "2026-03-04T05:06:07.000Z"
// A few orders competing for one SKU; two ids name Object properties, to keep lookups honest.
const orderId = fc.constantFrom("order-1", "order-2", "order-3", "constructor", "toString")
const onHand = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 30 }) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 2.5, 1_000_000_001) }
)
const quantity = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -3, 1.5, 1001) }
)

const command: fc.Arbitrary<InventoryCommand> = fc.oneof(
  { weight: 2, arbitrary: onHand.map((n) => InventoryCommand.SetStock({ onHand: n, at })) },
  {
    weight: 4,
    arbitrary: fc.tuple(orderId, quantity).map(([id, q]) => InventoryCommand.Reserve({ orderId: id, quantity: q, at }))
  },
  { weight: 2, arbitrary: orderId.map((id) => InventoryCommand.Release({ orderId: id, at })) },
  { weight: 2, arbitrary: orderId.map((id) => InventoryCommand.Commit({ orderId: id, at })) }
)
/** Most scripts stock the SKU first, so that reservations, releases and shipments happen; some never do. */
const script = fc.tuple(
  fc.option(fc.integer({ min: 5, max: 30 }).map((n) => InventoryCommand.SetStock({ onHand: n, at })), { freq: 5 }),
  fc.array(command, { maxLength: 40 })
).map(([first, rest]) => (first === null ? rest : [first, ...rest]))

interface Step {
  readonly command: InventoryCommand
  readonly before: InventoryState
  readonly after: InventoryState
  readonly events: ReadonlyArray<InventoryEvent> | null
}

/** Runs commands through the decider alone, folding only what it accepted. */
const run = (commands: ReadonlyArray<InventoryCommand>) => {
  let state: InventoryState = inventoryAggregate.initialState
  const history: Array<InventoryEvent> = []
  const steps: Array<Step> = []
  for (const command of commands) {
    const before = state
    const untouched = structuredClone(before)
    const decision = inventoryAggregate.decide(command, state)
    if (Either.isLeft(decision)) {
      expect(decision.left._tag).toBe("RuleViolated")
      // The decider is pure: a refusal changes nothing, not even the state it was shown.
      expect(before).toEqual(untouched)
      steps.push({ command, before, after: state, events: null })
      continue
    }
    history.push(...decision.right)
    state = fold(inventoryAggregate.evolve, state, decision.right)
    steps.push({ command, before, after: state, events: decision.right })
  }
  return { state, history, steps }
}

const sum = (values: Iterable<number>) => [...values].reduce((total, value) => total + value, 0)

describe("Inventory history properties", () => {
  it("no accepted sequence oversells: on hand and available stay non-negative, reserved is the sum held", () =>
    fc.assert(
      fc.property(script, (commands) => {
        for (const step of run(commands).steps) {
          const state = step.after
          expect(state.onHand).toBeGreaterThanOrEqual(0)
          expect(availableOf(state)).toBeGreaterThanOrEqual(0)
          expect(reservedOf(state)).toBe(sum(Object.values(state.reservations)))
          for (const held of Object.values(state.reservations)) {
            expect(Number.isInteger(held)).toBe(true)
            expect(held).toBeGreaterThanOrEqual(1)
            expect(held).toBeLessThanOrEqual(1000)
          }
          if (step.events === null) expect(step.after).toBe(step.before)
        }
      }),
      { numRuns: 500 }
    ))

  it("on hand is the last stock set less what has shipped since", () =>
    fc.assert(
      fc.property(script, (commands) => {
        const { state, history } = run(commands)
        let expected = 0
        for (const event of history) {
          if (event._tag === "StockSet") expected = event.onHand
          if (event._tag === "StockShipped") expected -= event.quantity
        }
        expect(state.onHand).toBe(expected)
      }),
      { numRuns: 300 }
    ))

  it("an accepted SetStock, Reserve or Release, repeated at once, emits nothing", () =>
    fc.assert(
      fc.property(script, (commands) => {
        for (const step of run(commands).steps) {
          if (step.events === null || step.command._tag === "Commit") continue
          expect(inventoryAggregate.decide(step.command, step.after)).toEqual(Either.right([]))
        }
      }),
      { numRuns: 300 }
    ))

  it("replaying the history gives the state built command by command", () =>
    fc.assert(
      fc.property(script, (commands) => {
        const { history, state } = run(commands)
        expect(fold(inventoryAggregate.evolve, inventoryAggregate.initialState, history)).toEqual(state)
      }),
      { numRuns: 300 }
    ))

  it("every reachable state survives its snapshot form stored as JSON", () =>
    fc.assert(
      fc.property(script, (commands) => {
        const codec = inventoryAggregate.snapshots!.codec
        for (const { after } of run(commands).steps) {
          const stored: unknown = JSON.parse(JSON.stringify(codec.encode(after)))
          expect(codec.decode(stored)).toEqual(Either.right(after))
        }
      }),
      { numRuns: 300 }
    ))

  it("a snapshot at any point plus the tail gives the state of a full replay", () =>
    fc.assert(
      fc.property(script, fc.nat(), (commands, cut) => {
        const { history, state } = run(commands)
        const codec = inventoryAggregate.snapshots!.codec
        const at = cut % (history.length + 1)
        const prefix = fold(inventoryAggregate.evolve, inventoryAggregate.initialState, history.slice(0, at))
        const restored = Either.getOrThrow(codec.decode(JSON.parse(JSON.stringify(codec.encode(prefix)))))
        expect(fold(inventoryAggregate.evolve, restored, history.slice(at))).toEqual(state)
      }),
      { numRuns: 300 }
    ))
})
