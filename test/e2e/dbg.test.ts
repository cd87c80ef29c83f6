import { layer, expect } from "@effect/vitest"
import { Effect } from "effect"
import { get, post } from "../support/http.js"
import { fulfilmentLayer } from "../support/fulfilment.js"
layer(fulfilmentLayer(), { excludeTestServices: true })("dbg", (it) => {
  it.effect("x", () => Effect.gen(function*() {
    const placed = yield* post("/orders", { body: { customerId: "9d2b0c44-57f7-4a5e-8f0a-6f1c2b3d4e5f", currency: "EUR", lines: [{ sku: "X", quantity: 1, unitPriceCents: 1 }] } })
    const r = yield* get(`/orders/${placed.json.orderId}/fulfilment`)
    console.log("FUL", r.status, r.text)
    expect(1).toBe(1)
  }))
})
