/**
 * The typed client (src/client.ts) against the real server: an order's life through it, and the
 * API's errors coming back as their classes, so that a TypeScript caller handles them by tag.
 */
import { FetchHttpClient } from "@effect/platform"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { makeClient, NotFound, NotModified, PreconditionFailed, Unprocessable } from "../../src/client.js"
import { adminToken } from "../support/auth.js"
import { BaseUrl, serverLayer } from "../support/http.js"
import { recordCapture } from "../support/orders.js"
import { RuntimeLive } from "../../src/app.js"
import { testConfig } from "../support/layers.js"

const client = Effect.flatMap(BaseUrl, (baseUrl) => makeClient({ baseUrl, token: adminToken }))

layer(Layer.mergeAll(serverLayer(), RuntimeLive.pipe(Layer.provide(testConfig())), FetchHttpClient.layer), { excludeTestServices: true })(
  "the typed client",
  (it) => {
    it.effect("takes an order through its life, typed end to end", () =>
      Effect.gen(function*() {
        const api = yield* client
        const customerId = randomUUID()
        const { orderId, version } = yield* api.orders.place({
          headers: { "idempotency-key": randomUUID() },
          payload: { customerId, currency: "EUR", lines: [{ sku: "A", quantity: 2, unitPriceCents: 150 }] }
        })
        expect(version).toBe(1)
        yield* api.orders.confirm({ path: { orderId }, headers: { "if-match": `"1"` } })
        yield* api.orders.pay({ path: { orderId }, headers: {}, payload: { amountCents: 300, method: "card" } })
        yield* recordCapture(orderId)
        yield* api.orders.ship({ path: { orderId }, headers: {}, payload: { carrier: "DHL", trackingNumber: "T-1" } })
        const order = yield* api.orders.get({ path: { orderId }, headers: {}, urlParams: {} })
        expect(order).toMatchObject({ orderId, customerId, status: "shipped", totalCents: 300 })
        const timeline = yield* api.orders.events({ path: { orderId }, urlParams: { limit: 2 } })
        expect(timeline.map((entry) => entry.type)).toEqual(["OrderPlaced", "OrderConfirmed"])
        const page = yield* api.readModels.customerOrders({ path: { customerId }, urlParams: {} })
        expect(page.nextCursor).toBeNull()
      }))

    it.effect("answers errors as their classes: a failed If-Match, not modified, not found, a broken rule", () =>
      Effect.gen(function*() {
        const api = yield* client
        const { orderId } = yield* api.orders.place({
          headers: {},
          payload: { customerId: randomUUID(), currency: "EUR", lines: [{ sku: "A", quantity: 1, unitPriceCents: 100 }] }
        })
        const stale = yield* Effect.flip(api.orders.confirm({ path: { orderId }, headers: { "if-match": `"7"` } }))
        expect(stale).toBeInstanceOf(PreconditionFailed)
        expect(stale).toMatchObject({ status: 412, expectedVersion: 7, actualVersion: 1 })
        const unchanged = yield* Effect.flip(api.orders.get({ path: { orderId }, headers: { "if-none-match": `"1"` }, urlParams: {} }))
        expect(unchanged).toBeInstanceOf(NotModified)
        const missing = yield* Effect.flip(api.orders.get({ path: { orderId: randomUUID() }, headers: {}, urlParams: {} }))
        expect(missing).toBeInstanceOf(NotFound)
        const refused = yield* Effect.flip(api.orders.ship({ path: { orderId }, headers: {}, payload: { carrier: "DHL", trackingNumber: "T" } }))
        expect(refused).toBeInstanceOf(Unprocessable)
        expect(refused).toMatchObject({ error: "rule_violated", rule: expect.any(String) })
      }))
  }
)
