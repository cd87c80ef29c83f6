import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { StoreLive } from "../../src/app.js"
import { orderAggregate, OrderCommand } from "../../src/domain/order/index.js"
import { EventStore } from "../../src/eventstore/EventStore.js"
import { makeActorSystem } from "../../src/runtime/ActorSystem.js"
import { stateAt } from "../../src/runtime/timeTravel.js"
import golden from "../golden/order-events.json" with { type: "json" }
import { testConfig } from "../support/layers.js"
import { at, options, settings } from "../support/orders.js"

const StoreTest = StoreLive.pipe(Layer.provide(testConfig()))

const storedForm = (type: string, schemaVersion: number) =>
  golden.cases.find((example) => example.stored.type === type && example.stored.schemaVersion === schemaVersion)!.stored

layer(StoreTest, { excludeTestServices: true })("schema evolution", (it) => {
  it.scoped("an order stored by older code loads, takes new commands, and its old events stay as they were", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore
      const id = randomUUID()
      // As an earlier version wrote them: OrderPaid at schema version 1 (`method`, no `installments`).
      const history = [
        storedForm("OrderPlaced", 1),
        { type: "OrderConfirmed", schemaVersion: 1, data: { confirmedAt: "2026-01-02T03:05:00.000Z" } },
        storedForm("OrderPaid", 1)
      ]
      for (const [i, event] of history.entries()) {
        yield* sql`INSERT INTO events (stream_id, stream_type, version, event_id, event_type, schema_version, payload, metadata)
          VALUES (${id}, 'order', ${i + 1}, ${randomUUID()}, ${event.type}, ${event.schemaVersion}, ${JSON.stringify(event.data)}::jsonb,
            ${JSON.stringify({ correlationId: randomUUID(), causationId: null, userId: null })}::jsonb)`
      }

      const orders = yield* makeActorSystem(orderAggregate, store, settings({ snapshotEvery: 2 }))
      const loaded = yield* orders.read(id)
      expect(loaded).toMatchObject({ version: 3, state: { status: "paid", payment: { amountCents: 900, method: "card" } } })
      const shipped = yield* orders.execute(id, OrderCommand.Ship({ carrier: "DHL", trackingNumber: "JD0146", at }), options())
      expect(shipped.version).toBe(4)

      const stored = yield* store.readStream(id)
      expect(stored.map((event) => [event.type, event.schemaVersion])).toEqual([
        ["OrderPlaced", 1],
        ["OrderConfirmed", 1],
        ["OrderPaid", 1],
        ["OrderShipped", 1]
      ])
      expect(stored[2]!.data).toEqual(storedForm("OrderPaid", 1).data)
      expect((yield* stateAt(orderAggregate, store, id, { _tag: "AtVersion", version: 3 })).state.payment).toEqual({
        amountCents: 900,
        method: "card"
      })
    }))
})
