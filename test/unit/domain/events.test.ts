import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { makeEventCatalog } from "../../../src/domain/events.js"
import { orderEvents } from "../../../src/domain/order/events.js"
import golden from "../../golden/order-events.json" with { type: "json" }

describe("event catalogue", () => {
  it("stores an event as type, schema version and data without the tag, and reads it back", () => {
    const event = { _tag: "OrderShipped" as const, carrier: "DHL", trackingNumber: "JD1", shippedAt: "2026-01-01T00:00:00.000Z" }
    const stored = orderEvents.encode(event)
    expect(stored).toEqual({
      type: "OrderShipped",
      schemaVersion: 1,
      data: { carrier: "DHL", trackingNumber: "JD1", shippedAt: "2026-01-01T00:00:00.000Z" }
    })
    expect(orderEvents.decode(stored)).toEqual(Either.right(event))
  })

  it("refuses an unknown type, a payload that does not fit, and a version newer than the code", () => {
    const reasonOf = (stored: Parameters<typeof orderEvents.decode>[0]) =>
      Either.match(orderEvents.decode(stored), { onLeft: (error) => error.reason, onRight: () => "decoded" })
    expect(reasonOf({ type: "OrderTeleported", schemaVersion: 1, data: {} })).toBe("unknown event type")
    expect(reasonOf({ type: "OrderConfirmed", schemaVersion: 1, data: { confirmedAt: 42 } })).toContain("confirmedAt")
    expect(reasonOf({ type: "OrderConfirmed", schemaVersion: 2, data: { confirmedAt: "x" } })).toContain("newer")
  })

  it("lifts old payloads through the upcaster chain, one version at a time", () => {
    const Renamed = Schema.TaggedStruct("Renamed", { fullName: Schema.String, tier: Schema.String, active: Schema.Boolean })
    const catalog = makeEventCatalog(Schema.Union(Renamed), {
      Renamed: {
        schemaVersion: 3,
        upcasters: {
          1: ({ name, ...rest }) => ({ ...rest, fullName: name }), // v2 renamed `name`
          2: (data) => ({ ...data, active: true }) // v3 added `active`, default true
        }
      }
    })
    expect(catalog.decode({ type: "Renamed", schemaVersion: 1, data: { name: "Ada", tier: "gold" } }))
      .toEqual(Either.right({ _tag: "Renamed", fullName: "Ada", tier: "gold", active: true }))
    expect(catalog.decode({ type: "Renamed", schemaVersion: 2, data: { fullName: "Ada", tier: "gold" } }))
      .toEqual(Either.right({ _tag: "Renamed", fullName: "Ada", tier: "gold", active: true }))
    expect(catalog.encode({ _tag: "Renamed", fullName: "Ada", tier: "gold", active: false }).schemaVersion).toBe(3)
  })

  it.each(golden.cases.map((example) => [`${example.stored.type} v${example.stored.schemaVersion}`, example] as const))(
    "golden: a stored %s reads as today's event",
    (_, example) => {
      expect(orderEvents.decode(example.stored)).toEqual(Either.right(example.reads))
    }
  )

  it("writes OrderPaid at its current version, and what it writes reads back", () => {
    const event = { _tag: "OrderPaid" as const, amountCents: 100, paymentMethod: "card", installments: 2, paidAt: "2026-01-01T00:00:00.000Z" }
    const stored = orderEvents.encode(event)
    expect(stored.schemaVersion).toBe(3)
    expect(orderEvents.decode(stored)).toEqual(Either.right(event))
  })
})
