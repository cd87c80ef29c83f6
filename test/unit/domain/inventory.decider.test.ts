import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { fold } from "../../../src/domain/aggregate.js"
import {
  availableOf,
  InventoryCommand,
  type InventoryEvent,
  inventoryAggregate,
  reservedOf
} from "../../../src/domain/inventory/index.js"
import { deciderSpec } from "../../../src/testing/index.js"

const spec = deciderSpec(inventoryAggregate)
const at = "2026-01-02T03:04:05.000Z"
const orderA = "0b8f5f6e-1c1a-4d7e-9a35-6f1f0c0d2a11"
const orderB = "7c2d9e40-5b3f-4a8c-8e21-93d4b7a6c512"

const stockSet = (onHand: number): InventoryEvent => ({ _tag: "StockSet", onHand, setAt: at })
const reserved = (orderId: string, quantity: number): InventoryEvent => ({
  _tag: "StockReserved",
  orderId,
  quantity,
  reservedAt: at
})
const released = (orderId: string, quantity: number): InventoryEvent => ({
  _tag: "StockReleased",
  orderId,
  quantity,
  releasedAt: at
})
const shipped = (orderId: string, quantity: number): InventoryEvent => ({
  _tag: "StockShipped",
  orderId,
  quantity,
  shippedAt: at
})

const setStock = (onHand: number) => InventoryCommand.SetStock({ onHand, at })
const reserve = (orderId: string, quantity: number) => InventoryCommand.Reserve({ orderId, quantity, at })
const release = (orderId: string) => InventoryCommand.Release({ orderId, at })
const commit = (orderId: string) => InventoryCommand.Commit({ orderId, at })

const stateAfter = (history: ReadonlyArray<InventoryEvent>) =>
  fold(inventoryAggregate.evolve, inventoryAggregate.initialState, history)

const refusalOf = (history: ReadonlyArray<InventoryEvent>, command: InventoryCommand) =>
  Either.match(inventoryAggregate.decide(command, stateAfter(history)), {
    onLeft: (error) => error.message,
    onRight: (events) => `accepted ${JSON.stringify(events)}`
  })

describe("Inventory decider", () => {
  describe("SetStock", () => {
    it("sets the stock of an unknown SKU", () => spec.given([]).when(setStock(10)).then([stockSet(10)]))
    it("sets an unknown SKU to zero (the SKU becomes known)", () =>
      spec.given([]).when(setStock(0)).then([stockSet(0)]))
    it("changes the stock of a known SKU", () => spec.given([stockSet(10)]).when(setStock(7)).then([stockSet(7)]))
    it("emits nothing when the stock is unchanged (a repeated PUT)", () =>
      spec.given([stockSet(10)]).when(setStock(10)).then([]))
    it("takes a billion", () => spec.given([]).when(setStock(1_000_000_000)).then([stockSet(1_000_000_000)]))
    it("refuses more than a billion", () =>
      spec.given([]).when(setStock(1_000_000_001)).thenRefuses("on-hand-out-of-range"))
    it("refuses a negative stock", () => spec.given([]).when(setStock(-1)).thenRefuses("on-hand-out-of-range"))
    it("refuses a fraction", () => spec.given([]).when(setStock(2.5)).thenRefuses("on-hand-out-of-range"))
    it("refuses NaN", () => spec.given([]).when(setStock(Number.NaN)).thenRefuses("on-hand-out-of-range"))
    it("may lower the stock to exactly what is reserved", () =>
      spec.given([stockSet(10), reserved(orderA, 4)]).when(setStock(4)).then([stockSet(4)]))
    it("refuses to go below what is reserved, naming both numbers", () => {
      const history = [stockSet(10), reserved(orderA, 4), reserved(orderB, 3)]
      spec.given(history).when(setStock(6)).thenRefuses("on-hand-below-reserved")
      const message = refusalOf(history, setStock(6))
      expect(message).toContain("6")
      expect(message).toContain("7")
    })
  })

  describe("Reserve", () => {
    it("reserves available stock", () =>
      spec.given([stockSet(10)]).when(reserve(orderA, 4)).then([reserved(orderA, 4)]))
    it("reserves everything that is available", () =>
      spec.given([stockSet(10), reserved(orderB, 6)]).when(reserve(orderA, 4)).then([reserved(orderA, 4)]))
    it("emits nothing when the order already holds the same quantity (a repeat)", () =>
      spec.given([stockSet(10), reserved(orderA, 4)]).when(reserve(orderA, 4)).then([]))
    it("is a repeat even when the stock has since run out", () =>
      spec.given([stockSet(4), reserved(orderA, 4)]).when(reserve(orderA, 4)).then([]))
    it("refuses another quantity for an order that already holds some", () =>
      spec.given([stockSet(10), reserved(orderA, 4)]).when(reserve(orderA, 5)).thenRefuses("reservation-exists"))
    it("refuses more than is available, naming both numbers", () => {
      const history = [stockSet(10), reserved(orderB, 7)]
      spec.given(history).when(reserve(orderA, 4)).thenRefuses("insufficient-stock")
      expect(refusalOf(history, reserve(orderA, 4))).toContain("3 available, 4 asked")
    })
    it("refuses an unknown SKU as having none available", () => {
      spec.given([]).when(reserve(orderA, 1)).thenRefuses("insufficient-stock")
      expect(refusalOf([], reserve(orderA, 1))).toContain("0 available, 1 asked")
    })
    it("refuses quantity 0", () =>
      spec.given([stockSet(10)]).when(reserve(orderA, 0)).thenRefuses("quantity-out-of-range"))
    it("refuses quantity 1001", () =>
      spec.given([stockSet(5000)]).when(reserve(orderA, 1001)).thenRefuses("quantity-out-of-range"))
    it("takes quantity 1000", () =>
      spec.given([stockSet(5000)]).when(reserve(orderA, 1000)).then([reserved(orderA, 1000)]))
    it("refuses a fraction", () =>
      spec.given([stockSet(10)]).when(reserve(orderA, 1.5)).thenRefuses("quantity-out-of-range"))
    it("may reserve again after a release", () =>
      spec.given([stockSet(10), reserved(orderA, 4), released(orderA, 4)]).when(reserve(orderA, 5))
        .then([reserved(orderA, 5)]))
    it("treats an order id that names an Object property like any other", () =>
      spec.given([stockSet(10)]).when(reserve("constructor", 2)).then([reserved("constructor", 2)]))
  })

  describe("Release", () => {
    it("releases what the order holds", () =>
      spec.given([stockSet(10), reserved(orderA, 4)]).when(release(orderA)).then([released(orderA, 4)]))
    it("emits nothing when the order holds nothing (repeatable compensation)", () =>
      spec.given([stockSet(10), reserved(orderA, 4), released(orderA, 4)]).when(release(orderA)).then([]))
    it("emits nothing on an unknown SKU", () => spec.given([]).when(release(orderA)).then([]))
    it("emits nothing after the reservation was shipped", () =>
      spec.given([stockSet(10), reserved(orderA, 4), shipped(orderA, 4)]).when(release(orderA)).then([]))
    it("leaves other orders' reservations alone", () => {
      const state = stateAfter([stockSet(10), reserved(orderA, 4), reserved(orderB, 3), released(orderA, 4)])
      expect(state.reservations).toEqual({ [orderB]: 3 })
      expect(availableOf(state)).toBe(7)
    })
  })

  describe("Commit", () => {
    it("ships the reserved quantity", () =>
      spec.given([stockSet(10), reserved(orderA, 4)]).when(commit(orderA)).then([shipped(orderA, 4)]))
    it("refuses an order without a reservation", () =>
      spec.given([stockSet(10)]).when(commit(orderA)).thenRefuses("no-reservation"))
    it("refuses after a release", () =>
      spec.given([stockSet(10), reserved(orderA, 4), released(orderA, 4)]).when(commit(orderA))
        .thenRefuses("no-reservation"))
    it("refuses a second commit: the reservation is gone", () =>
      spec.given([stockSet(10), reserved(orderA, 4), shipped(orderA, 4)]).when(commit(orderA))
        .thenRefuses("no-reservation"))
    it("lowers on hand and removes the reservation", () => {
      const state = stateAfter([stockSet(10), reserved(orderA, 4), reserved(orderB, 3), shipped(orderA, 4)])
      expect(state).toEqual({ known: true, onHand: 6, reservations: { [orderB]: 3 } })
      expect(reservedOf(state)).toBe(3)
      expect(availableOf(state)).toBe(3)
    })
  })

  describe("events and snapshots", () => {
    it("stores every event at schema version 1 and reads it back", () => {
      for (const event of [stockSet(3), reserved(orderA, 2), released(orderA, 2), shipped(orderA, 2)]) {
        const stored = inventoryAggregate.events.encode(event)
        expect(stored.schemaVersion).toBe(1)
        expect(inventoryAggregate.events.decode(JSON.parse(JSON.stringify(stored)))).toEqual(Either.right(event))
      }
    })
    it("round-trips a state through its snapshot form", () => {
      const codec = inventoryAggregate.snapshots!.codec
      const state = stateAfter([stockSet(10), reserved(orderA, 4), reserved(orderB, 3)])
      expect(codec.schemaVersion).toBe(1)
      expect(codec.decode(JSON.parse(JSON.stringify(codec.encode(state))))).toEqual(Either.right(state))
    })
    it("refuses a snapshot that is not an inventory state", () => {
      const codec = inventoryAggregate.snapshots!.codec
      expect(Either.isLeft(codec.decode({ known: true, onHand: 1 }))).toBe(true)
      expect(Either.isLeft(codec.decode({ known: true, onHand: 1, reservations: { a: 1.5 } }))).toBe(true)
    })
  })
})
