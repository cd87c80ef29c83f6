/**
 * The HTTP API end to end: a real server on a free port, the real actors and PostgreSQL, Node's fetch.
 * Each test places its own orders (random ids), so tests run in parallel and again without cleanup.
 */
import { orderEvents } from "../../src/domain/order/events.js"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import {
  type ApiResponse,
  call,
  del,
  etag,
  expectError,
  get,
  jsonText,
  placeOrder,
  placeOrderBody,
  post,
  type RequestOptions,
  serverLayer
} from "../support/http.js"
import { adminToken, token } from "../support/auth.js"
import { testConfig } from "../support/layers.js"
import { recordCapture } from "../support/orders.js"
import { RuntimeLive } from "../../src/app.js"

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** The order as GET /orders/{id} shows it; its ETag must be its version. */
const getOrder = (orderId: string) =>
  Effect.map(get(`/orders/${orderId}`), (response) => {
    expect(response.status, response.text).toBe(200)
    expect(response.headers.get("etag")).toBe(etag(response.json.version))
    return response.json
  })

const versionOf = (orderId: string) => Effect.map(getOrder(orderId), (order) => order.version as number)

const timeline = (orderId: string) =>
  Effect.map(get(`/orders/${orderId}/events`), (response) => {
    expect(response.status, response.text).toBe(200)
    return response.json as Array<any>
  })

layer(Layer.merge(serverLayer(), RuntimeLive.pipe(Layer.provide(testConfig()))), { excludeTestServices: true })("HTTP API", (it) => {
  describe("an order's life", () => {
    it.effect("goes placed → item added → item removed → confirmed → payment pending → paid → shipped → delivered, one version and one event per step", () =>
      Effect.gen(function*() {
        // The customer orders and pays; someone of staff ships and delivers. Each event records who.
        const customerId = randomUUID()
        const staffId = `staff-${randomUUID()}`
        const customer = yield* Effect.promise(() => token(customerId, { roles: ["customer"] }))
        const staff = yield* Effect.promise(() => token(staffId, { roles: ["staff"] }))
        const correlationIds: Array<string> = []
        const tracing = () => {
          const correlationId = randomUUID()
          correlationIds.push(correlationId)
          return { "x-correlation-id": correlationId }
        }

        const placed = yield* post("/orders", {
          token: customer,
          body: { customerId, lines: [{ sku: "A-1", quantity: 2, unitPriceCents: 250 }], currency: "EUR" },
          headers: tracing()
        })
        expect(placed.status, placed.text).toBe(201)
        const orderId: string = placed.json.orderId
        expect(orderId).toMatch(uuidPattern)
        expect(placed.json).toEqual({ orderId, version: 1 })
        expect(placed.headers.get("location")).toBe(`/orders/${orderId}`)
        expect(placed.headers.get("etag")).toBe(etag(1))
        expect(yield* getOrder(orderId)).toMatchObject({
          orderId,
          customerId,
          status: "placed",
          lines: [{ sku: "A-1", quantity: 2, unitPriceCents: 250 }],
          totalCents: 500,
          currency: "EUR",
          version: 1
        })

        /** Sends a command with If-Match at the current version; it must answer the next version. */
        const step = (method: "POST" | "DELETE", path: string, from: number, body?: unknown, as = customer, status = 200) =>
          Effect.gen(function*() {
            const response = yield* call(method, `/orders/${orderId}${path}`, {
              token: as,
              ...(body === undefined ? {} : { body }),
              headers: { "if-match": etag(from), ...tracing() }
            })
            expect(response.status, `${method} ${path}: ${response.text}`).toBe(status)
            expect(response.json).toEqual({ orderId, version: from + 1 })
            expect(response.headers.get("etag")).toBe(etag(from + 1))
            return yield* getOrder(orderId)
          })

        expect(yield* step("POST", "/items", 1, { sku: "B-2", quantity: 1, unitPriceCents: 199 })).toMatchObject({
          status: "placed",
          lines: [{ sku: "A-1", quantity: 2, unitPriceCents: 250 }, { sku: "B-2", quantity: 1, unitPriceCents: 199 }],
          totalCents: 699,
          version: 2
        })
        expect(yield* step("DELETE", "/items/B-2", 2)).toMatchObject({
          status: "placed",
          lines: [{ sku: "A-1", quantity: 2, unitPriceCents: 250 }],
          totalCents: 500,
          version: 3
        })
        expect(yield* step("POST", "/confirm", 3)).toMatchObject({ status: "confirmed", version: 4 })
        expect(yield* step("POST", "/pay", 4, { amountCents: 500, method: "card" }, customer, 202)).toMatchObject({
          status: "paymentPending",
          version: 5
        })
        // The fulfilment saga records the capture (test/e2e/fulfilment.test.ts runs the real one).
        yield* recordCapture(orderId)
        expect(yield* getOrder(orderId)).toMatchObject({ status: "paid", version: 6 })
        expect(yield* step("POST", "/ship", 6, { carrier: "UPS", trackingNumber: "1Z999AA10123456784" }, staff)).toMatchObject({
          status: "shipped",
          shipment: { carrier: "UPS", trackingNumber: "1Z999AA10123456784" },
          version: 7
        })
        expect(yield* step("POST", "/deliver", 7, undefined, staff)).toMatchObject({ status: "delivered", totalCents: 500, version: 8 })

        const events = yield* timeline(orderId)
        expect(events.map((event) => [event.version, event.type])).toEqual([
          [1, "OrderPlaced"],
          [2, "ItemAdded"],
          [3, "ItemRemoved"],
          [4, "OrderConfirmed"],
          [5, "PaymentRequested"],
          [6, "OrderPaid"],
          [7, "OrderShipped"],
          [8, "OrderDelivered"]
        ])
        expect(events.map((event) => event.metadata.correlationId)).toEqual([...correlationIds.slice(0, 5), orderId, ...correlationIds.slice(5)])
        expect(events.map((event) => [event.metadata.userId, event.metadata.role])).toEqual([
          ...Array.from({ length: 5 }, () => [customerId, "customer"]),
          [null, "service"],
          [staffId, "staff"],
          [staffId, "staff"]
        ])
        for (const event of events) {
          expect(event.metadata).toMatchObject({ causationId: null })
          // Written at each type's current schema version (OrderPaid has evolved to 3).
          expect(event.schemaVersion).toBe(orderEvents.schemaVersionOf(event.type))
          expect(Number.isNaN(Date.parse(event.recordedAt))).toBe(false)
          expect(Number.isInteger(event.globalPosition)).toBe(true)
        }
        const positions = events.map((event) => event.globalPosition as number)
        expect(positions).toEqual([...positions].sort((a, b) => a - b))
        expect(events[0].data).toMatchObject({ customerId, currency: "EUR", lines: [{ sku: "A-1", quantity: 2 }] })
        expect(events[4].data).toMatchObject({ attempt: 1, amountCents: 500, method: "card" })
        expect(events[5].data).toMatchObject({ amountCents: 500, paymentMethod: "card", installments: 1 })
      }))

    it.effect("a placed order can be cancelled with a reason, and a cancelled order refuses further commands", () =>
      Effect.gen(function*() {
        const orderId = yield* placeOrder()
        const cancelled = yield* post(`/orders/${orderId}/cancel`, { body: { reason: "changed my mind" } })
        expect(cancelled.status, cancelled.text).toBe(200)
        expect(cancelled.json).toEqual({ orderId, version: 2 })
        expect(cancelled.headers.get("etag")).toBe(etag(2))
        expect(yield* getOrder(orderId)).toMatchObject({ status: "cancelled", cancelReason: "changed my mind", version: 2 })

        expectError(yield* post(`/orders/${orderId}/confirm`), 422, { error: "rule_violated", rule: "order-cancelled" })
        const events = yield* timeline(orderId)
        expect(events.map((event) => [event.version, event.type])).toEqual([[1, "OrderPlaced"], [2, "OrderCancelled"]])
        expect(events[1].data).toMatchObject({ reason: "changed my mind" })
      }))

    it.effect("a retried POST /orders with the same Idempotency-Key and body gets the first answer and appends nothing", () =>
      Effect.gen(function*() {
        const request = { body: placeOrderBody(), headers: { "idempotency-key": `place-${randomUUID()}` } }
        const first = yield* post("/orders", request)
        const retry = yield* post("/orders", request)
        expect(first.status, first.text).toBe(201)
        expect(retry.status, retry.text).toBe(201)
        expect(retry.json).toEqual(first.json)
        expect(retry.headers.get("location")).toBe(first.headers.get("location"))
        expect(retry.headers.get("etag")).toBe(etag(1))
        expect(yield* timeline(first.json.orderId)).toHaveLength(1)
      }))

    it.effect("an Idempotency-Key reused with a different body is refused with 422 and appends nothing", () =>
      Effect.gen(function*() {
        const key = `place-${randomUUID()}`
        const first = yield* post("/orders", { body: placeOrderBody(), headers: { "idempotency-key": key } })
        expect(first.status, first.text).toBe(201)
        const reused = yield* post("/orders", { body: placeOrderBody(), headers: { "idempotency-key": key } })
        expectError(reused, 422, { error: "idempotency_key_reused" })
        expect(reused.json.message).toContain(key)
        expect(yield* timeline(first.json.orderId)).toHaveLength(1)
      }))

    it.effect("the same Idempotency-Key from two callers places two orders: keys belong to whoever sent them", () =>
      Effect.gen(function*() {
        // The same request, word for word, from two principals.
        const key = `place-${randomUUID()}`
        const body = placeOrderBody()
        const [aliceId, bobId] = [`alice-${randomUUID()}`, `bob-${randomUUID()}`]
        const [alice, bob] = yield* Effect.promise(() =>
          Promise.all([token(aliceId, { roles: ["service"] }), token(bobId, { roles: ["service"] })])
        )
        const fromAlice = yield* post("/orders", { token: alice, body, headers: { "idempotency-key": key } })
        const fromBob = yield* post("/orders", { token: bob, body, headers: { "idempotency-key": key } })
        expect([fromAlice.status, fromBob.status]).toEqual([201, 201])
        expect(fromBob.json.orderId).not.toBe(fromAlice.json.orderId)
        const again = yield* post("/orders", { token: alice, body, headers: { "idempotency-key": key } })
        expect(again.json.orderId).toBe(fromAlice.json.orderId)
        expect((yield* timeline(fromAlice.json.orderId)).map((event) => event.metadata.userId)).toEqual([aliceId])
        expect((yield* timeline(fromBob.json.orderId)).map((event) => event.metadata.userId)).toEqual([bobId])
      }))

    it.effect("a retried command with the same Idempotency-Key applies once", () =>
      Effect.gen(function*() {
        const orderId = yield* placeOrder()
        const request = {
          body: { sku: "B", quantity: 3, unitPriceCents: 10 },
          headers: { "idempotency-key": `add-${randomUUID()}` }
        }
        const first = yield* post(`/orders/${orderId}/items`, request)
        const retry = yield* post(`/orders/${orderId}/items`, request)
        expect(first.json).toEqual({ orderId, version: 2 })
        expect(retry.status, retry.text).toBe(200)
        expect(retry.json).toEqual(first.json)
        expect(yield* getOrder(orderId)).toMatchObject({ version: 2, totalCents: 130 })
      }))
  })

  describe("error statuses", () => {
    it.effect("404: an unknown order, for reads and for commands", () =>
      Effect.gen(function*() {
        const unknown = randomUUID()
        for (
          const response of [
            yield* get(`/orders/${unknown}`),
            yield* get(`/orders/${unknown}/events`),
            yield* post(`/orders/${unknown}/confirm`),
            yield* post(`/orders/${unknown}/items`, { body: { sku: "A", quantity: 1, unitPriceCents: 1 } }),
            yield* del(`/orders/${unknown}/items/A`)
          ]
        ) {
          expectError(response, 404, { error: "not_found" })
          expect(response.json.message).toContain(unknown)
        }
      }))

    it.effect("404: an unknown route answers JSON too", () =>
      Effect.gen(function*() {
        expectError(yield* get("/no-such-thing"), 404, { error: "not_found" })
      }))

    it.effect("405: a known path asked with a method it does not serve lists the ones it does in Allow", () =>
      Effect.gen(function*() {
        const put = yield* call("PUT", "/orders", { body: placeOrderBody() })
        expectError(put, 405, { error: "method_not_allowed" })
        expect(put.headers.get("allow")).toBe("POST")
        const patch = yield* call("PATCH", `/orders/${randomUUID()}`)
        expectError(patch, 405, { error: "method_not_allowed" })
        expect(patch.headers.get("allow")).toBe("GET, HEAD")
        const stock = yield* call("POST", "/inventory/SKU-1")
        expect(stock.headers.get("allow")).toBe("GET, HEAD, PUT")
        // HEAD is served wherever GET is.
        expect((yield* call("HEAD", `/orders/${randomUUID()}`)).status).toBe(404)
        // A path the API does not have at all stays 404.
        expectError(yield* call("PUT", "/orders/x/y/z"), 404, { error: "not_found" })
      }))

    it.effect("412: a stale If-Match is a failed precondition with both versions, and changes nothing", () =>
      Effect.gen(function*() {
        const orderId = yield* placeOrder()
        expect((yield* post(`/orders/${orderId}/items`, { body: { sku: "B", quantity: 1, unitPriceCents: 5 } })).status)
          .toBe(200)
        const stale = yield* post(`/orders/${orderId}/confirm`, { headers: { "if-match": etag(1) } })
        expectError(stale, 412, { error: "version_conflict", expectedVersion: 1, actualVersion: 2 })
        expect(yield* getOrder(orderId)).toMatchObject({ status: "placed", version: 2 })
        // With the current ETag the same command goes through.
        expect((yield* post(`/orders/${orderId}/confirm`, { headers: { "if-match": etag(2) } })).status).toBe(200)
      }))

    it.effect("304: If-None-Match with the current ETag answers Not Modified without a body; any change answers 200", () =>
      Effect.gen(function*() {
        const orderId = yield* placeOrder()
        const first = yield* get(`/orders/${orderId}`)
        expect(first.headers.get("cache-control")).toBe("private, no-cache")
        const same = yield* get(`/orders/${orderId}`, { headers: { "if-none-match": etag(1) } })
        expect(same.status).toBe(304)
        expect(same.text).toBe("")
        expect(same.headers.get("etag")).toBe(etag(1))
        // A weak tag, a list, and `*` match too (RFC 9110's weak comparison).
        expect((yield* get(`/orders/${orderId}`, { headers: { "if-none-match": `W/"1"` } })).status).toBe(304)
        expect((yield* get(`/orders/${orderId}`, { headers: { "if-none-match": `"7", "1"` } })).status).toBe(304)
        expect((yield* get(`/orders/${orderId}`, { headers: { "if-none-match": "*" } })).status).toBe(304)
        yield* post(`/orders/${orderId}/confirm`)
        const changed = yield* get(`/orders/${orderId}`, { headers: { "if-none-match": etag(1) } })
        expect(changed.status).toBe(200)
        expect(changed.headers.get("etag")).toBe(etag(2))
        expectError(yield* get(`/orders/${orderId}`, { headers: { "if-none-match": "1" } }), 400, { field: "if-none-match" })
      }))

    it.effect("the timeline is paged: ?afterVersion=&limit= with a Link to the next page while more follow", () =>
      Effect.gen(function*() {
        const orderId = yield* placeOrder()
        for (const sku of ["B", "C", "D"]) yield* post(`/orders/${orderId}/items`, { body: { sku, quantity: 1, unitPriceCents: 5 } })
        const first = yield* get(`/orders/${orderId}/events?limit=2`)
        expect(first.json.map((event: { version: number }) => event.version)).toEqual([1, 2])
        expect(first.headers.get("link")).toBe(`</orders/${orderId}/events?afterVersion=2&limit=2>; rel="next"`)
        const next = yield* get(`/orders/${orderId}/events?afterVersion=2&limit=2`)
        expect(next.json.map((event: { version: number }) => event.version)).toEqual([3, 4])
        expect(next.headers.get("link")).toBeNull()
        const past = yield* get(`/orders/${orderId}/events?afterVersion=4`)
        expect(past.status).toBe(200)
        expect(past.json).toEqual([])
        expectError(yield* get(`/orders/${randomUUID()}/events?afterVersion=4`), 404)
        expectError(yield* get(`/orders/${orderId}/events?limit=0`), 400, { field: "limit" })
        expectError(yield* get(`/orders/${orderId}/events?limit=`), 400, { field: "limit" })
      }))

    it.effect("400: a malformed If-Match (not a quoted version from this API) is refused, naming the header", () =>
      Effect.gen(function*() {
        const orderId = yield* placeOrder()
        for (const ifMatch of ["1", "W/\"1\"", "*", "\"-1\"", "\"1.0\"", "\"\"", "\"99999999999\""]) {
          const response = yield* post(`/orders/${orderId}/confirm`, { headers: { "if-match": ifMatch } })
          expectError(response, 400, { error: "bad_request", field: "if-match" })
        }
        expect(yield* versionOf(orderId)).toBe(1)
      }))

    it.effect("422: paying other than the exact total is refused, naming the rule", () =>
      Effect.gen(function*() {
        const orderId = yield* placeOrder({ lines: [{ sku: "A", quantity: 3, unitPriceCents: 100 }] })
        expect((yield* post(`/orders/${orderId}/confirm`)).status).toBe(200)
        const refused = yield* post(`/orders/${orderId}/pay`, { body: { amountCents: 299, method: "card" } })
        expectError(refused, 422, { error: "rule_violated", rule: "amount-must-equal-total" })
        expect(refused.json.message).toContain("300")
        expect(yield* getOrder(orderId)).toMatchObject({ status: "confirmed", version: 2 })
      }))

    it.effect("422: shipping before paying is refused, naming the rule", () =>
      Effect.gen(function*() {
        const orderId = yield* placeOrder()
        expect((yield* post(`/orders/${orderId}/confirm`)).status).toBe(200)
        const refused = yield* post(`/orders/${orderId}/ship`, { body: { carrier: "UPS", trackingNumber: "1Z" } })
        expectError(refused, 422, { error: "rule_violated", rule: "ship-only-when-paid" })
        expect(yield* versionOf(orderId)).toBe(2)
      }))

    it.effect("422: other broken rules name themselves too (duplicate SKU, removing the last line, paying unconfirmed)", () =>
      Effect.gen(function*() {
        const line = { sku: "A", quantity: 1, unitPriceCents: 100 }
        expectError(yield* post("/orders", { body: placeOrderBody({ lines: [line, line] }) }), 422, { rule: "duplicate-sku" })
        const orderId = yield* placeOrder()
        expectError(yield* del(`/orders/${orderId}/items/A`), 422, { rule: "order-needs-a-line" })
        expectError(yield* del(`/orders/${orderId}/items/Z`), 422, { rule: "sku-not-in-order" })
        expectError(yield* post(`/orders/${orderId}/pay`, { body: { amountCents: 100, method: "card" } }), 422, {
          rule: "pay-only-when-confirmed"
        })
        expectError(
          yield* post(`/orders/${orderId}/items`, { body: { sku: "A", quantity: 1, unitPriceCents: 101 } }),
          422,
          { rule: "unit-price-mismatch" }
        )
        expect(yield* versionOf(orderId)).toBe(1)
      }))

    it.effect("413: a body over the limit is refused with the limit", () =>
      Effect.gen(function*() {
        const tooLarge = yield* post("/orders", { body: placeOrderBody({ note: "x".repeat(70 * 1024) }) })
        expectError(tooLarge, 413, { error: "payload_too_large", maxBytes: 64 * 1024 })
        const orderId = yield* placeOrder()
        const largeReason = yield* post(`/orders/${orderId}/cancel`, { body: { reason: "x".repeat(100 * 1024) } })
        expectError(largeReason, 413, { error: "payload_too_large" })
        expect(yield* versionOf(orderId)).toBe(1)
      }))

    it.effect("415: a body that is not application/json is refused, naming the type sent", () =>
      Effect.gen(function*() {
        const asText = yield* post("/orders", {
          raw: JSON.stringify(placeOrderBody()),
          headers: { "content-type": "text/plain" }
        })
        expectError(asText, 415, { error: "unsupported_media_type" })
        expect(asText.json.message).toContain("text/plain")
      }))

    it.effect("400: an empty body where one is needed says that a JSON body is required", () =>
      Effect.gen(function*() {
        const orderId = yield* placeOrder()
        for (
          const response of [
            yield* post("/orders", jsonText("")),
            yield* post("/orders"),
            yield* post(`/orders/${orderId}/items`, jsonText("")),
            yield* post(`/orders/${orderId}/cancel`)
          ]
        ) {
          expectError(response, 400, { error: "bad_request", field: "body", message: "a JSON body is required" })
        }
        // Commands without a body need none.
        expect((yield* post(`/orders/${orderId}/confirm`)).status).toBe(200)
      }))
  })

  describe("malformed requests: every one gets a 4xx JSON error with a message, never a 500", () => {
    interface Malformed {
      readonly name: string
      readonly method?: "GET" | "POST" | "DELETE"
      /** `:id` stands for a freshly placed order of this test. */
      readonly path: string
      readonly request?: RequestOptions
      readonly status: number
      /** The field the answer must name, where there is one. */
      readonly field?: string
    }

    const customerId = "7b0e2f4c-59a4-4f0e-9d6b-0f7c8a2b1c3d"
    const line = { sku: "A", quantity: 1, unitPriceCents: 100 }
    const order = (overrides: Record<string, unknown>) => ({ body: { customerId, lines: [line], currency: "EUR", ...overrides } })
    const withLine = (overrides: Record<string, unknown>) => order({ lines: [{ ...line, ...overrides }] })
    const placeJson = (lineJson: string) =>
      jsonText(`{"customerId":"${customerId}","currency":"EUR","lines":[${lineJson}]}`)

    const cases: ReadonlyArray<Malformed> = [
      // wrong types
      { name: "customerId is a number", path: "/orders", request: order({ customerId: 42 }), status: 400, field: "customerId" },
      { name: "quantity is a string", path: "/orders", request: withLine({ quantity: "1" }), status: 400, field: "lines[0].quantity" },
      { name: "quantity is a boolean", path: "/orders", request: withLine({ quantity: true }), status: 400, field: "lines[0].quantity" },
      { name: "quantity is fractional", path: "/orders", request: withLine({ quantity: 1.5 }), status: 400, field: "lines[0].quantity" },
      { name: "currency is a number", path: "/orders", request: order({ currency: 978 }), status: 400, field: "currency" },
      { name: "amountCents is a string", path: "/orders/:id/pay", request: { body: { amountCents: "100", method: "card" } }, status: 400, field: "amountCents" },
      { name: "reason is an object", path: "/orders/:id/cancel", request: { body: { reason: { text: "x" } } }, status: 400, field: "reason" },
      // missing fields
      { name: "customerId is missing", path: "/orders", request: { body: { lines: [line], currency: "EUR" } }, status: 400, field: "customerId" },
      { name: "lines are missing", path: "/orders", request: { body: { customerId, currency: "EUR" } }, status: 400, field: "lines" },
      { name: "currency is missing", path: "/orders", request: { body: { customerId, lines: [line] } }, status: 400, field: "currency" },
      { name: "a line has no sku", path: "/orders", request: order({ lines: [{ quantity: 1, unitPriceCents: 1 }] }), status: 400, field: "lines[0].sku" },
      { name: "lines are empty", path: "/orders", request: order({ lines: [] }), status: 400, field: "lines" },
      { name: "add item without quantity", path: "/orders/:id/items", request: { body: { sku: "B", unitPriceCents: 1 } }, status: 400, field: "quantity" },
      { name: "pay without method", path: "/orders/:id/pay", request: { body: { amountCents: 100 } }, status: 400, field: "method" },
      { name: "ship without trackingNumber", path: "/orders/:id/ship", request: { body: { carrier: "UPS" } }, status: 400, field: "trackingNumber" },
      { name: "cancel with an empty object", path: "/orders/:id/cancel", request: { body: {} }, status: 400, field: "reason" },
      // extra fields
      { name: "an unknown top-level field", path: "/orders", request: order({ admin: true }), status: 400, field: "admin" },
      { name: "an unknown field in a line", path: "/orders", request: withLine({ discount: 50 }), status: 400, field: "lines[0].discount" },
      { name: "an unknown field on add item", path: "/orders/:id/items", request: { body: { sku: "B", quantity: 1, unitPriceCents: 1, free: true } }, status: 400, field: "free" },
      { name: "a __proto__ key", path: "/orders", request: jsonText(`{"__proto__":{"admin":true},"customerId":"${customerId}","currency":"EUR","lines":[{"sku":"A","quantity":1,"unitPriceCents":1}]}`), status: 400, field: "__proto__" },
      // huge numbers
      { name: "quantity 1e309 (Infinity)", path: "/orders", request: placeJson(`{"sku":"A","quantity":1e309,"unitPriceCents":1}`), status: 400, field: "lines[0].quantity" },
      { name: "quantity -1e309", path: "/orders", request: placeJson(`{"sku":"A","quantity":-1e309,"unitPriceCents":1}`), status: 400, field: "lines[0].quantity" },
      { name: "quantity 2^53", path: "/orders", request: withLine({ quantity: 2 ** 53 }), status: 400, field: "lines[0].quantity" },
      { name: "quantity 1e6", path: "/orders", request: withLine({ quantity: 1e6 }), status: 400, field: "lines[0].quantity" },
      { name: "unitPriceCents 2^53", path: "/orders", request: withLine({ unitPriceCents: 2 ** 53 }), status: 400, field: "lines[0].unitPriceCents" },
      { name: "unitPriceCents with 400 digits", path: "/orders", request: placeJson(`{"sku":"A","quantity":1,"unitPriceCents":${"9".repeat(400)}}`), status: 400, field: "lines[0].unitPriceCents" },
      { name: "amountCents 1e309", path: "/orders/:id/pay", request: jsonText(`{"amountCents":1e309,"method":"card"}`), status: 400, field: "amountCents" },
      { name: "add item quantity 1e6", path: "/orders/:id/items", request: { body: { sku: "B", quantity: 1e6, unitPriceCents: 1 } }, status: 400, field: "quantity" },
      // negative and zero
      { name: "quantity -1", path: "/orders", request: withLine({ quantity: -1 }), status: 400, field: "lines[0].quantity" },
      { name: "quantity 0", path: "/orders/:id/items", request: { body: { sku: "B", quantity: 0, unitPriceCents: 1 } }, status: 400, field: "quantity" },
      { name: "unitPriceCents -5", path: "/orders", request: withLine({ unitPriceCents: -5 }), status: 400, field: "lines[0].unitPriceCents" },
      { name: "amountCents -1", path: "/orders/:id/pay", request: { body: { amountCents: -1, method: "card" } }, status: 400, field: "amountCents" },
      // bad uuids, in the body and in the path
      { name: "customerId is not a UUID", path: "/orders", request: order({ customerId: "not-a-uuid" }), status: 400, field: "customerId" },
      { name: "customerId has a trailing space", path: "/orders", request: order({ customerId: `${customerId} ` }), status: 400, field: "customerId" },
      { name: "customerId is a UUID with SQL appended", path: "/orders", request: order({ customerId: `${customerId}'; DROP TABLE events; --` }), status: 400, field: "customerId" },
      { name: "orderId in the path is not a UUID (GET)", method: "GET", path: "/orders/not-a-uuid", status: 400, field: "orderId" },
      { name: "orderId in the path is not a UUID (events)", method: "GET", path: "/orders/12345/events", status: 400, field: "orderId" },
      { name: "orderId in the path is not a UUID (command)", path: "/orders/not-a-uuid/confirm", status: 400, field: "orderId" },
      { name: "orderId in the path carries SQL", path: `/orders/${encodeURIComponent("1' OR '1'='1")}/items`, request: { body: line }, status: 400, field: "orderId" },
      { name: "orderId in the path is not a UUID (delete item)", method: "DELETE", path: "/orders/zzz/items/A", status: 400, field: "orderId" },
      { name: "sku in the path is not a SKU", method: "DELETE", path: `/orders/:id/items/${encodeURIComponent("bad sku!")}`, status: 400, field: "sku" },
      // invalid JSON
      { name: "truncated JSON", path: "/orders", request: jsonText(`{"customerId":`), status: 400, field: "body" },
      { name: "trailing garbage after the JSON", path: "/orders", request: jsonText(`{"customerId":"${customerId}"} trailing`), status: 400, field: "body" },
      { name: "single-quoted JSON", path: "/orders", request: jsonText(`{'customerId':'${customerId}'}`), status: 400, field: "body" },
      { name: "NaN is not JSON", path: "/orders", request: placeJson(`{"sku":"A","quantity":NaN,"unitPriceCents":1}`), status: 400, field: "body" },
      { name: "whitespace only", path: "/orders/:id/cancel", request: jsonText("   "), status: 400, field: "body" },
      { name: "broken JSON on a command without a body", path: "/orders/:id/confirm", request: jsonText("{"), status: 400, field: "body" },
      // empty body
      { name: "empty body with a JSON content type", path: "/orders", request: jsonText(""), status: 400, field: "body" },
      { name: "no body at all", path: "/orders", status: 400, field: "body" },
      { name: "no body on pay", path: "/orders/:id/pay", status: 400, field: "body" },
      // wrong content type
      { name: "text/plain", path: "/orders", request: { raw: JSON.stringify(placeOrderBody()), headers: { "content-type": "text/plain" } }, status: 415 },
      { name: "a form", path: "/orders", request: { raw: "customerId=1", headers: { "content-type": "application/x-www-form-urlencoded" } }, status: 415 },
      { name: "application/jsonx is not JSON", path: "/orders", request: { raw: JSON.stringify(placeOrderBody()), headers: { "content-type": "application/jsonx" } }, status: 415 },
      { name: "no Content-Type", path: "/orders", request: { raw: JSON.stringify(placeOrderBody()) }, status: 415 },
      // arrays instead of objects
      { name: "the body is an array", path: "/orders", request: { body: [placeOrderBody()] }, status: 400, field: "body" },
      { name: "a line is an array", path: "/orders", request: order({ lines: [["A", 1, 100]] }), status: 400, field: "lines[0]" },
      { name: "lines is an object", path: "/orders", request: order({ lines: line }), status: 400, field: "lines" },
      { name: "add item body is an array", path: "/orders/:id/items", request: { body: [line] }, status: 400, field: "body" },
      // null
      { name: "the body is null", path: "/orders", request: jsonText("null"), status: 400, field: "body" },
      { name: "the body is a string", path: "/orders", request: { body: "place an order" }, status: 400, field: "body" },
      { name: "the body is a number", path: "/orders/:id/pay", request: jsonText("100"), status: 400, field: "body" },
      { name: "customerId is null", path: "/orders", request: order({ customerId: null }), status: 400, field: "customerId" },
      { name: "lines is null", path: "/orders", request: order({ lines: null }), status: 400, field: "lines" },
      // unicode and very long strings
      { name: "a SKU with emoji", path: "/orders", request: withLine({ sku: "🎉" }), status: 400, field: "lines[0].sku" },
      { name: "a SKU of 65 characters", path: "/orders", request: withLine({ sku: "A".repeat(65) }), status: 400, field: "lines[0].sku" },
      { name: "a SKU of 20,000 characters", path: "/orders", request: withLine({ sku: "A".repeat(20_000) }), status: 400, field: "lines[0].sku" },
      { name: "a customerId in Arabic-Indic digits", path: "/orders", request: order({ customerId: "٧b0e2f4c-59a4-4f0e-9d6b-0f7c8a2b1c3d" }), status: 400, field: "customerId" },
      { name: "a reason of 501 characters", path: "/orders/:id/cancel", request: { body: { reason: "r".repeat(501) } }, status: 400, field: "reason" },
      { name: "a carrier of 10,000 characters", path: "/orders/:id/ship", request: { body: { carrier: "ü".repeat(10_000), trackingNumber: "1" } }, status: 400, field: "carrier" },
      { name: "a blank method", path: "/orders/:id/pay", request: { body: { amountCents: 100, method: " \t\n " } }, status: 400, field: "method" },
      { name: "a reason with U+0000", path: "/orders/:id/cancel", request: jsonText(`{"reason":"a\\u0000b"}`), status: 400, field: "reason" },
      { name: "a reason with a lone surrogate", path: "/orders/:id/cancel", request: jsonText(`{"reason":"\\ud800"}`), status: 400, field: "reason" },
      { name: "a tracking number with a lone low surrogate", path: "/orders/:id/ship", request: jsonText(`{"carrier":"UPS","trackingNumber":"x\\udc00"}`), status: 400, field: "trackingNumber" },
      { name: "an Idempotency-Key with spaces", path: "/orders", request: { ...order({}), headers: { "idempotency-key": "has spaces" } }, status: 400, field: "idempotency-key" },
      { name: "an X-Correlation-Id of 200 characters", path: "/orders/:id/confirm", request: { headers: { "x-correlation-id": "c".repeat(200) } }, status: 400, field: "x-correlation-id" },
      // duplicate JSON keys
      { name: "customerId given twice", path: "/orders", request: jsonText(`{"customerId":"${customerId}","customerId":"${randomUUID()}","currency":"EUR","lines":[{"sku":"A","quantity":1,"unitPriceCents":1}]}`), status: 400, field: "customerId" },
      { name: "a line's quantity given twice", path: "/orders", request: placeJson(`{"sku":"A","quantity":1,"unitPriceCents":1},{"sku":"B","quantity":1,"quantity":900,"unitPriceCents":1}`), status: 400, field: "lines[1].quantity" },
      { name: "amountCents given twice, escaped", path: "/orders/:id/pay", request: jsonText(`{"amountCents":100,"method":"card","amount\\u0043ents":100}`), status: 400, field: "amountCents" },
      // bad currency
      { name: "a currency that is not ISO 4217", path: "/orders", request: order({ currency: "XYZ" }), status: 400, field: "currency" },
      { name: "a lower-case currency", path: "/orders", request: order({ currency: "eur" }), status: 400, field: "currency" },
      { name: "a four-letter currency", path: "/orders", request: order({ currency: "EURO" }), status: 400, field: "currency" },
      { name: "an empty currency", path: "/orders", request: order({ currency: "" }), status: 400, field: "currency" },
      // malformed Authorization headers
      ...([
        ["a token without a scheme", adminToken],
        ["Basic credentials", "Basic YWRtaW46YWRtaW4="],
        ["Bearer and no token", "Bearer "],
        ["Bearer and two tokens", `Bearer ${adminToken} ${adminToken}`],
        ["a token of 10,000 characters", `Bearer ${"a".repeat(10_000)}`],
        ["a token that is not a JWT", "Bearer not-a-jwt"],
        ["a JWT of garbage", "Bearer eyJ.eyJ.c2ln"],
        ["a JWT whose header is not JSON", `Bearer ${Buffer.from("not json").toString("base64url")}.e30.c2ln`],
        ["a token with Latin-1 letters", "Bearer tökén"],
        ["a token in JSON", `Bearer {"alg":"none"}`],
        ["a JWT with its signature cut off", `Bearer ${adminToken.split(".").slice(0, 2).join(".")}`]
      ] as const).flatMap(([name, authorization]): ReadonlyArray<Malformed> => [
        { name: `${name} (GET)`, method: "GET", path: "/orders/:id", request: { headers: { authorization } }, status: 401 },
        { name: `${name} (command)`, path: "/orders/:id/confirm", request: { headers: { authorization } }, status: 401 }
      ])
    ]

    // Tuples, so that vitest prints each case's name whole (it shortens interpolated object fields).
    it.effect.each(cases.map((malformed) => [`${malformed.name} → ${malformed.status}`, malformed] as const))("%s", ([, malformed]) =>
      Effect.gen(function*() {
        const orderId = malformed.path.includes(":id") ? yield* placeOrder() : undefined
        const path = orderId === undefined ? malformed.path : malformed.path.replace(":id", orderId)
        const response = yield* call(malformed.method ?? "POST", path, malformed.request)
        expectError(response, malformed.status, malformed.field === undefined ? {} : { field: malformed.field })
        if (malformed.field !== undefined && malformed.field !== "body") {
          expect(response.json.message).toContain(malformed.field)
        }
        // Refused input leaves the order as it was.
        if (orderId !== undefined) expect(yield* versionOf(orderId)).toBe(1)
      }))

    it.effect("the same input, well formed, is accepted: the table above refuses only what is wrong", () =>
      Effect.gen(function*() {
        const accepted = yield* post("/orders", order({ customerId: randomUUID() }))
        expect(accepted.status, accepted.text).toBe(201)
        const viaCharset = yield* post("/orders", {
          raw: JSON.stringify(placeOrderBody()),
          headers: { "content-type": "application/json; charset=utf-8" }
        })
        expect(viaCharset.status, viaCharset.text).toBe(201)
        const orderId: string = accepted.json.orderId
        // Text that looks like a repeated key, with escapes and a trailing backslash, is one string, not a duplicate.
        const trickyReason = `🎉 ünïcödé — 取消 \u{1F600} said "reason": {"reason":"no"}, \\`
        const cancelled = yield* post(`/orders/${orderId}/cancel`, { body: { reason: trickyReason } })
        expect(cancelled.status, cancelled.text).toBe(200)
        expect(yield* getOrder(orderId)).toMatchObject({ cancelReason: trickyReason })
      }))
  })

  describe("service endpoints", () => {
    it.effect("GET /health answers ok", () =>
      Effect.gen(function*() {
        const response = yield* get("/health")
        expect(response.status).toBe(200)
        expect(response.json).toEqual({ status: "ok" })
      }))

    it.effect("GET /ready answers ready once the database answers and migrations are applied", () =>
      Effect.gen(function*() {
        const response = yield* get("/ready")
        expect(response.status, response.text).toBe(200)
        expect(response.json).toEqual({ status: "ready" })
      }))

    it.effect("GET /openapi.json describes every endpoint and its error statuses", () =>
      Effect.gen(function*() {
        const response = yield* get("/openapi.json")
        expect(response.status).toBe(200)
        const spec = response.json
        expect(spec.openapi).toMatch(/^3\./)
        expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining([
          "/orders",
          "/orders/{orderId}",
          "/orders/{orderId}/events",
          "/orders/{orderId}/items",
          "/orders/{orderId}/items/{sku}",
          "/orders/{orderId}/confirm",
          "/orders/{orderId}/pay",
          "/orders/{orderId}/ship",
          "/orders/{orderId}/deliver",
          "/orders/{orderId}/cancel",
          "/orders/{orderId}/fulfilment",
          "/inventory/{sku}",
          "/health",
          "/ready"
        ]))
        expect(Object.keys(spec.paths["/orders"].post.responses)).toEqual(
          expect.arrayContaining(["201", "400", "409", "413", "415", "422", "503"])
        )
        expect(Object.keys(spec.paths["/orders"].post.responses)).not.toContain("404")
        expect(Object.keys(spec.paths["/orders/{orderId}/pay"].post.responses)).toEqual(
          expect.arrayContaining(["202", "400", "404", "409", "412", "422", "503"])
        )
        expect(Object.keys(spec.paths["/orders/{orderId}/pay"].post.responses)).toEqual(
          expect.arrayContaining(["202", "400", "404", "409", "422", "503"])
        )
      }))

    it.effect("GET /docs serves the Swagger UI", () =>
      Effect.gen(function*() {
        const response = yield* get("/docs")
        expect(response.status).toBe(200)
        expect(response.headers.get("content-type")).toMatch(/^text\/html/)
        expect(response.text).toContain("swagger-ui")
      }))
  })
})

layer(serverLayer({ runtime: { mailboxCapacity: 1 } }), { excludeTestServices: true })("HTTP API under load", (it) => {
  it.effect("503: an order with a full mailbox answers Overloaded with Retry-After, and loses nothing it accepted", () =>
    Effect.gen(function*() {
      const orderId = yield* placeOrder()
      const addOne = post(`/orders/${orderId}/items`, { body: { sku: "A", quantity: 1, unitPriceCents: 100 } })
      let accepted = 0
      let overloaded: Array<ApiResponse> = []
      // A mailbox of one fills as soon as a few requests overlap; waves repeat only if none happened to.
      for (let wave = 0; wave < 5 && overloaded.length === 0; wave++) {
        const responses = yield* Effect.all(Array.from({ length: 40 }, () => addOne), { concurrency: "unbounded" })
        for (const response of responses) {
          expect([200, 503], response.text).toContain(response.status)
        }
        accepted += responses.filter((response) => response.status === 200).length
        overloaded = responses.filter((response) => response.status === 503)
      }
      expect(overloaded.length).toBeGreaterThan(0)
      for (const response of overloaded) {
        expectError(response, 503, { error: "overloaded", retryAfterSeconds: 1 })
        expect(response.headers.get("retry-after")).toBe("1")
        expect(response.json.message).toContain(orderId)
      }
      const order = yield* getOrder(orderId)
      expect(order.version).toBe(1 + accepted)
      expect(order.lines).toEqual([{ sku: "A", quantity: 1 + accepted, unitPriceCents: 100 }])
    }))
})
