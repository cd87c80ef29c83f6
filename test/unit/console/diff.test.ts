/** What each event changed: the fold of the order's own definition, and the difference of states. */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { replayWithChanges, stateChanges } from "../../../src/console/diff.js"
import { orderAggregate } from "../../../src/domain/order/index.js"

const at = "2026-05-06T07:08:09.000Z"

const stored = (version: number, type: string, data: unknown) => ({ version, type, schemaVersion: 1, data })

describe("stateChanges", () => {
  it("names each changed path, with what it was and what it became", () => {
    expect(stateChanges(
      { status: "placed", lines: [{ sku: "A", quantity: 1 }], cancelReason: null, gone: 1 },
      { status: "cancelled", lines: [{ sku: "A", quantity: 2 }, { sku: "B", quantity: 1 }], cancelReason: "asked" }
    )).toEqual([
      { kind: "changed", path: "status", before: "placed", after: "cancelled" },
      { kind: "changed", path: "lines[0].quantity", before: 1, after: 2 },
      { kind: "added", path: "lines[1]", after: { sku: "B", quantity: 1 } },
      { kind: "changed", path: "cancelReason", before: null, after: "asked" },
      { kind: "removed", path: "gone", before: 1 }
    ])
  })

  it("is empty when nothing changed", () => {
    expect(stateChanges({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toEqual([])
  })
})

describe("replayWithChanges", () => {
  it("folds an order's events with its definition and gives each one's changes and the state after it", () => {
    const steps = Either.getOrThrow(replayWithChanges(orderAggregate, [
      stored(1, "OrderPlaced", { customerId: "c-1", currency: "EUR", lines: [{ sku: "A", quantity: 1, unitPriceCents: 100 }], placedAt: at }),
      stored(2, "OrderConfirmed", { confirmedAt: at })
    ]))
    expect(steps.map((step) => step.state.status)).toEqual(["placed", "confirmed"])
    expect(steps[0]!.changes).toContainEqual({ kind: "changed", path: "status", before: "none", after: "placed" })
    expect(steps[0]!.changes).toContainEqual({ kind: "changed", path: "totalCents", before: 0, after: 100 })
    expect(steps[1]!.changes).toEqual([{ kind: "changed", path: "status", before: "placed", after: "confirmed" }])
  })

  it("names the version of an event that cannot be read", () => {
    const result = replayWithChanges(orderAggregate, [stored(1, "NoSuchEvent", {})])
    expect(Either.isLeft(result) && result.left).toMatch(/^version 1: cannot read stored NoSuchEvent/)
  })
})
