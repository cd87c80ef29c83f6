/**
 * A property over random orders and random customers acting on them through the HTTP API: a
 * customer never reads or changes an order that is not theirs. Checked on every answer (nothing of
 * another's order in it) and on the histories afterwards (every event of an order was caused by its
 * owner).
 */
import { expect, layer } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import { randomUUID } from "node:crypto"
import { token } from "../support/auth.js"
import { BaseUrl, serverLayer } from "../support/http.js"

/** (The read model's summary is left to the authorization matrix: no projector feeds this server's read model.) */
type Act = "get" | "events" | "list" | "addItem" | "removeItem" | "confirm" | "pay" | "cancel" | "ship"

const acts: ReadonlyArray<Act> = ["get", "events", "list", "addItem", "removeItem", "confirm", "pay", "cancel", "ship"]

const request = (act: Act, orderId: string, ownerId: string): { method: string; path: string; body?: unknown } => {
  switch (act) {
    case "get":
      return { method: "GET", path: `/orders/${orderId}` }
    case "events":
      return { method: "GET", path: `/orders/${orderId}/events` }
    case "list":
      return { method: "GET", path: `/customers/${ownerId}/orders` }
    case "addItem":
      return { method: "POST", path: `/orders/${orderId}/items`, body: { sku: "MORE", quantity: 1, unitPriceCents: 5 } }
    case "removeItem":
      return { method: "DELETE", path: `/orders/${orderId}/items/MORE` }
    case "confirm":
      return { method: "POST", path: `/orders/${orderId}/confirm` }
    case "pay":
      return { method: "POST", path: `/orders/${orderId}/pay`, body: { amountCents: 1, method: "card" } }
    case "cancel":
      return { method: "POST", path: `/orders/${orderId}/cancel`, body: { reason: "changed my mind" } }
    case "ship":
      return { method: "POST", path: `/orders/${orderId}/ship`, body: { carrier: "DHL", trackingNumber: "T-1" } }
  }
}

/** What another customer may hear: nothing found, or not allowed at all. */
const refusedToOthers: Record<Act, number> = {
  get: 404,
  events: 404,
  list: 403,
  addItem: 404,
  removeItem: 404,
  confirm: 404,
  pay: 404,
  cancel: 404,
  ship: 403
}

layer(serverLayer(), { excludeTestServices: true })("customers and orders that are not theirs", (it) => {
  it.effect("property: a customer never reads or changes another customer's order", () =>
    Effect.gen(function*() {
      const base = yield* BaseUrl
      const send = async (jwt: string, method: string, path: string, body?: unknown) => {
        const response = await fetch(`${base}${path}`, {
          method,
          headers: { authorization: `Bearer ${jwt}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        })
        return { status: response.status, text: await response.text() }
      }

      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.integer({ min: 2, max: 4 }),
            fc.array(fc.tuple(fc.nat(), fc.nat(), fc.constantFrom(...acts)), { minLength: 1, maxLength: 12 }),
            async (customerCount, script) => {
              const customers = await Promise.all(Array.from({ length: customerCount }, async () => {
                const id = randomUUID()
                return { id, jwt: await token(id, { roles: ["customer"] }) }
              }))
              // Each customer places one order of a SKU of their own.
              const orders = await Promise.all(customers.map(async (owner) => {
                const sku = `S-${randomUUID().slice(0, 8)}`
                const placed = await send(owner.jwt, "POST", "/orders", { customerId: owner.id, lines: [{ sku, quantity: 1, unitPriceCents: 7 }], currency: "EUR" })
                expect(placed.status, placed.text).toBe(201)
                return { id: JSON.parse(placed.text).orderId as string, owner, sku }
              }))
              for (const [who, which, act] of script) {
                const caller = customers[who % customers.length]!
                const order = orders[which % orders.length]!
                const { body, method, path } = request(act, order.id, order.owner.id)
                const answer = await send(caller.jwt, method, path, body)
                expect(answer.status, answer.text).toBeLessThan(500)
                if (act === "ship") {
                  // No customer ships, their own order or another's: refused before anything is looked up.
                  expect(answer.status, answer.text).toBe(403)
                } else if (caller === order.owner) {
                  expect([403, 404], `${act} by the owner: ${answer.text}`).not.toContain(answer.status)
                } else {
                  expect(answer.status, `${act} by another customer: ${answer.text}`).toBe(refusedToOthers[act])
                  expect(answer.text).not.toContain(order.sku)
                  expect(answer.text).not.toContain(order.owner.id)
                }
              }
              // The histories: every event of an order was caused by its owner, as a customer.
              for (const order of orders) {
                const history = await send(order.owner.jwt, "GET", `/orders/${order.id}/events`)
                expect(history.status).toBe(200)
                for (const event of JSON.parse(history.text) as Array<any>) {
                  expect(event.metadata).toMatchObject({ userId: order.owner.id, role: "customer" })
                }
              }
            }
          ),
          { numRuns: 30 }
        )
      )
    }), { timeout: 180_000 })
})
