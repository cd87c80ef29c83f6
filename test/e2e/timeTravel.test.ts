import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { expectError, get, placeOrder, post, serverLayer } from "../support/http.js"

layer(serverLayer(), { excludeTestServices: true })("time travel", (it) => {
  it.effect("GET /orders/{id}?atVersion=N and ?at=<moment> give the order as it was", () =>
    Effect.gen(function*() {
      const id = yield* placeOrder()
      const afterPlacing = new Date().toISOString()
      yield* Effect.sleep("20 millis")
      expect((yield* post(`/orders/${id}/items`, { body: { sku: "B", quantity: 2, unitPriceCents: 250 } })).status).toBe(200)
      expect((yield* post(`/orders/${id}/confirm`)).status).toBe(200)

      const now = yield* get(`/orders/${id}`)
      expect(now.json).toMatchObject({ status: "confirmed", totalCents: 600, version: 3 })
      expect(now.headers.get("etag")).toBe('"3"')

      const first = yield* get(`/orders/${id}?atVersion=1`)
      expect(first.status).toBe(200)
      expect(first.json).toMatchObject({ status: "placed", totalCents: 100, version: 1, lines: [{ sku: "A", quantity: 1, unitPriceCents: 100 }] })
      expect(first.headers.get("etag")).toBeNull()
      expect((yield* get(`/orders/${id}?atVersion=2`)).json).toMatchObject({ status: "placed", totalCents: 600, version: 2 })

      const then = yield* get(`/orders/${id}?at=${encodeURIComponent(afterPlacing)}`)
      expect(then.json).toMatchObject({ status: "placed", totalCents: 100, version: 1 })
      expect((yield* get(`/orders/${id}?at=${encodeURIComponent(new Date().toISOString())}`)).json).toMatchObject({ version: 3 })

      expectError(yield* get(`/orders/${id}?atVersion=9`), 404)
      expectError(yield* get(`/orders/${id}?at=2000-01-01T00:00:00Z`), 404)
      expectError(yield* get(`/orders/${id}?atVersion=0`), 400)
      expectError(yield* get(`/orders/${id}?at=yesterday`), 400)
      // Both: whichever came first.
      expect((yield* get(`/orders/${id}?atVersion=3&at=${encodeURIComponent(afterPlacing)}`)).json).toMatchObject({ version: 1 })
      const later = encodeURIComponent(new Date().toISOString())
      expect((yield* get(`/orders/${id}?atVersion=2&at=${later}`)).json).toMatchObject({ version: 2 })
      // Past the order's last version is as it is now: by that moment it had no more.
      expect((yield* get(`/orders/${id}?atVersion=9&at=${later}`)).json).toMatchObject({ version: 3 })
    }))
})
