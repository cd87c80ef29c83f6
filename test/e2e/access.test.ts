/**
 * Who may do what, end to end: every endpoint × every kind of caller against a real server, the
 * expected status written out here, and no answer to a caller who may not see an order carrying
 * anything of it. A customer asking for another customer's order gets exactly the answer an unknown
 * order gets.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import * as HttpApi from "@effect/platform/HttpApi"
import { FulfilmentSagas } from "../../src/aggregates.js"
import { RuntimeLive, StoreLive } from "../../src/app.js"
import { recordCapture } from "../support/orders.js"
import { Api } from "../../src/http/Api.js"
import { EventStore } from "../../src/eventstore/EventStore.js"
import * as OrderSummaries from "../../src/projections/OrderSummaries.js"
import { fromRecorded, projectEvents } from "../../src/projections/projectEvents.js"
import { confusedToken, token, unsignedToken } from "../support/auth.js"
import { type ApiResponse, call, serverLayer } from "../support/http.js"
import { testConfig } from "../support/layers.js"

type Caller =
  | "anonymous"
  | "expired"
  | "not yet valid"
  | "wrong issuer"
  | "wrong audience"
  | "bad signature"
  | "alg none"
  | "HS256 with the public key"
  | "owner"
  | "another customer"
  | "staff"
  | "admin"
  | "service"

const invalidCallers = [
  "anonymous",
  "expired",
  "not yet valid",
  "wrong issuer",
  "wrong audience",
  "bad signature",
  "alg none",
  "HS256 with the public key"
] as const satisfies ReadonlyArray<Caller>

const callers: ReadonlyArray<Caller> = [...invalidCallers, "owner", "another customer", "staff", "admin", "service"]

/** The state an order must be in for the endpoint's command to be possible. */
type Stage = "new" | "stocked" | "placed" | "confirmed" | "fulfilling" | "paid" | "shipped"

interface Endpoint {
  readonly name: string
  readonly stage: Stage
  readonly request: (orderId: string, ownerId: string, sku: string) => {
    readonly method: "GET" | "POST" | "DELETE" | "PUT"
    readonly path: string
    readonly body?: unknown
  }
  /** The statuses of the callers with a valid token (every other caller gets 401). */
  readonly expected: Readonly<Record<"owner" | "another customer" | "staff" | "admin" | "service", number>>
}

const line = (sku: string) => ({ sku, quantity: 1, unitPriceCents: 100 })

const endpoints: ReadonlyArray<Endpoint> = [
  {
    name: "POST /orders",
    stage: "new",
    request: (_orderId, ownerId, sku) => ({ method: "POST", path: "/orders", body: { customerId: ownerId, lines: [line(sku)], currency: "EUR" } }),
    expected: { owner: 201, "another customer": 403, staff: 403, admin: 201, service: 201 }
  },
  {
    name: "POST /orders/{orderId}/items",
    stage: "placed",
    request: (orderId) => ({ method: "POST", path: `/orders/${orderId}/items`, body: line("EXTRA") }),
    expected: { owner: 200, "another customer": 404, staff: 403, admin: 200, service: 200 }
  },
  {
    name: "DELETE /orders/{orderId}/items/{sku}",
    stage: "placed",
    request: (orderId) => ({ method: "DELETE", path: `/orders/${orderId}/items/SPARE` }),
    expected: { owner: 200, "another customer": 404, staff: 403, admin: 200, service: 200 }
  },
  {
    name: "POST /orders/{orderId}/confirm",
    stage: "placed",
    request: (orderId) => ({ method: "POST", path: `/orders/${orderId}/confirm` }),
    expected: { owner: 200, "another customer": 404, staff: 403, admin: 200, service: 200 }
  },
  {
    name: "POST /orders/{orderId}/pay",
    stage: "confirmed",
    request: (orderId) => ({ method: "POST", path: `/orders/${orderId}/pay`, body: { amountCents: 200, method: "card" } }),
    expected: { owner: 202, "another customer": 404, staff: 403, admin: 202, service: 202 }
  },
  {
    name: "POST /orders/{orderId}/ship",
    stage: "paid",
    request: (orderId) => ({ method: "POST", path: `/orders/${orderId}/ship`, body: { carrier: "DHL", trackingNumber: "TRACK-1" } }),
    expected: { owner: 403, "another customer": 403, staff: 200, admin: 200, service: 200 }
  },
  {
    name: "POST /orders/{orderId}/deliver",
    stage: "shipped",
    request: (orderId) => ({ method: "POST", path: `/orders/${orderId}/deliver` }),
    expected: { owner: 403, "another customer": 403, staff: 200, admin: 200, service: 200 }
  },
  {
    name: "POST /orders/{orderId}/cancel",
    stage: "placed",
    request: (orderId) => ({ method: "POST", path: `/orders/${orderId}/cancel`, body: { reason: "out of stock" } }),
    expected: { owner: 200, "another customer": 404, staff: 200, admin: 200, service: 200 }
  },
  {
    name: "GET /orders/{orderId}",
    stage: "paid",
    request: (orderId) => ({ method: "GET", path: `/orders/${orderId}` }),
    expected: { owner: 200, "another customer": 404, staff: 200, admin: 200, service: 200 }
  },
  {
    name: "GET /orders/{orderId}?atVersion=1",
    stage: "paid",
    request: (orderId) => ({ method: "GET", path: `/orders/${orderId}?atVersion=1` }),
    expected: { owner: 200, "another customer": 404, staff: 200, admin: 200, service: 200 }
  },
  {
    name: "GET /orders/{orderId}/events",
    stage: "paid",
    request: (orderId) => ({ method: "GET", path: `/orders/${orderId}/events` }),
    expected: { owner: 200, "another customer": 404, staff: 200, admin: 200, service: 200 }
  },
  {
    name: "GET /orders/{orderId}/fulfilment",
    stage: "fulfilling",
    request: (orderId) => ({ method: "GET", path: `/orders/${orderId}/fulfilment` }),
    expected: { owner: 200, "another customer": 404, staff: 200, admin: 200, service: 200 }
  },
  {
    name: "PUT /inventory/{sku}",
    stage: "new",
    request: (_orderId, _ownerId, sku) => ({ method: "PUT", path: `/inventory/${sku}`, body: { onHand: 5 } }),
    expected: { owner: 403, "another customer": 403, staff: 200, admin: 200, service: 200 }
  },
  {
    name: "GET /inventory/{sku}",
    stage: "stocked",
    request: (_orderId, _ownerId, sku) => ({ method: "GET", path: `/inventory/${sku}` }),
    expected: { owner: 200, "another customer": 200, staff: 200, admin: 200, service: 200 }
  },
  {
    name: "GET /orders/{orderId}/summary",
    stage: "paid",
    request: (orderId) => ({ method: "GET", path: `/orders/${orderId}/summary?waitMs=0` }),
    expected: { owner: 200, "another customer": 404, staff: 200, admin: 200, service: 200 }
  },
  {
    name: "GET /customers/{customerId}/orders",
    stage: "paid",
    request: (_orderId, ownerId) => ({ method: "GET", path: `/customers/${ownerId}/orders` }),
    expected: { owner: 200, "another customer": 403, staff: 200, admin: 200, service: 200 }
  },
  {
    // A feed never ends: asked from a position that is no event's, an admitted caller gets the
    // handler's 400 at once, which is past the access check.
    name: "GET /events/stream",
    stage: "new",
    request: () => ({ method: "GET", path: `/events/stream?after=${Number.MAX_SAFE_INTEGER}` }),
    expected: { owner: 403, "another customer": 403, staff: 400, admin: 400, service: 400 }
  }
]

/** The store and the read model beside the server, to put a test's orders into the read model. */
const readModel = Layer.mergeAll(RuntimeLive, OrderSummaries.layer.pipe(Layer.provide(StoreLive))).pipe(Layer.provide(testConfig()))

/** The token of each kind of caller; the broken ones claim the owner's id and every role, so that only the token's flaw stops them. */
const tokenOf = (caller: Caller, ownerId: string): Promise<string | null> => {
  const all = { roles: ["customer", "staff", "admin", "service"] }
  switch (caller) {
    case "anonymous":
      return Promise.resolve(null)
    case "expired":
      return token(ownerId, { ...all, expiresIn: -120 })
    case "not yet valid":
      return token(ownerId, { ...all, notBefore: 120 })
    case "wrong issuer":
      return token(ownerId, { ...all, issuer: "https://impostor.example.com" })
    case "wrong audience":
      return token(ownerId, { ...all, audience: "another-api" })
    case "bad signature":
      return token(ownerId, { ...all, foreignKey: true })
    case "alg none":
      return Promise.resolve(unsignedToken(ownerId))
    case "HS256 with the public key":
      return confusedToken(ownerId)
    case "owner":
      return token(ownerId, { roles: ["customer"] })
    case "another customer":
      return token(randomUUID(), { roles: ["customer"] })
    case "staff":
    case "admin":
    case "service":
      return token(`${caller}-${randomUUID()}`, { roles: [caller] })
  }
}

const stages: ReadonlyArray<Stage> = ["placed", "confirmed", "paid", "shipped"]

/**
 * Starts the order's fulfilment saga as the process manager's feed would, without running its steps
 * (no process manager runs on the shared database): enough for its view to exist.
 */
const startSaga = (orderId: string) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const confirmed = (yield* store.readStream(orderId)).find((event) => event.type === "OrderConfirmed")!
    const sagas = yield* FulfilmentSagas
    yield* sagas.execute(orderId, {
      _tag: "Observe",
      event: { eventId: confirmed.eventId, streamType: "order", streamId: orderId, type: confirmed.type, data: confirmed.data },
      cause: confirmed.eventId,
      at: new Date().toISOString()
    }, { metadata: { correlationId: orderId, causationId: confirmed.eventId, userId: null, role: "service" } })
  })

/** An order of `ownerId` taken to `stage` by an admin, in the read model too; gives its id. */
const orderAt = (stage: Stage, ownerId: string, sku: string) =>
  Effect.gen(function*() {
    if (stage === "new") return randomUUID()
    if (stage === "stocked") {
      const stocked = yield* call("PUT", `/inventory/${sku}`, { body: { onHand: 3 } })
      expect(stocked.status, stocked.text).toBe(200)
      return randomUUID()
    }

    // Two lines, so that one can be removed.
    const placed = yield* call("POST", "/orders", { body: { customerId: ownerId, lines: [line(sku), line("SPARE")], currency: "EUR" } })
    expect(placed.status, placed.text).toBe(201)
    const orderId: string = placed.json.orderId
    const steps: ReadonlyArray<readonly [string, unknown]> = [
      ["confirm", undefined],
      ["pay", { amountCents: 200, method: "card" }],
      ["ship", { carrier: "DHL", trackingNumber: "TRACK-0" }]
    ]
    for (const [path, body] of steps.slice(0, stages.indexOf(stage === "fulfilling" ? "confirmed" : stage))) {
      const response = yield* call("POST", `/orders/${orderId}/${path}`, body === undefined ? {} : { body })
      expect(response.status, response.text).toBe(path === "pay" ? 202 : 200)
      // Paid once its capture is recorded, as the fulfilment saga does.
      if (path === "pay") yield* recordCapture(orderId)
    }
    if (stage === "fulfilling") yield* startSaga(orderId)
    const store = yield* EventStore
    yield* projectEvents((yield* store.readStream(orderId)).map(fromRecorded))
    return orderId
  })

const send = (endpoint: Endpoint, orderId: string, ownerId: string, sku: string, jwt: string | null) => {
  const request = endpoint.request(orderId, ownerId, sku)
  return call(request.method, request.path, { token: jwt, ...(request.body === undefined ? {} : { body: request.body }) })
}

/** Nothing of the order in an answer: not its customer, not its SKU, no ETag of its version. */
const expectNothingOf = (response: ApiResponse, ownerId: string, sku: string) => {
  expect(response.text).not.toContain(ownerId)
  expect(response.text).not.toContain(sku)
  expect(response.headers.get("etag")).toBeNull()
  expect(response.headers.get("location")).toBeNull()
}

layer(Layer.mergeAll(serverLayer(), readModel), { excludeTestServices: true })("the authorization matrix", (it) => {
  for (const endpoint of endpoints) {
    it.effect(endpoint.name, () =>
      Effect.gen(function*() {
        const outcomes: Array<string> = []
        const expected: Array<string> = []
        for (const caller of callers) {
          const ownerId = randomUUID()
          const sku = `SKU-${randomUUID().slice(0, 8)}`
          const orderId = yield* orderAt(endpoint.stage, ownerId, sku)
          const jwt = yield* Effect.promise(() => tokenOf(caller, ownerId))
          const response = yield* send(endpoint, orderId, ownerId, sku, jwt)
          const status = caller in endpoint.expected ? endpoint.expected[caller as keyof Endpoint["expected"]] : 401
          outcomes.push(`${caller}: ${response.status}`)
          expected.push(`${caller}: ${status}`)
          expect(response.headers.get("content-type")).toMatch(response.status >= 400 ? /^application\/problem\+json/ : /^application\/json/)
          if (response.status >= 400) {
            expectNothingOf(response, ownerId, sku)
            expect(response.json).toMatchObject({ error: expect.any(String), message: expect.stringMatching(/\S/) })
          }
          if (response.status === 401) {
            expect(response.headers.get("www-authenticate")).toMatch(/^Bearer realm="event-sourced-actors"/)
          }
          if (response.status === 404) {
            // Exactly what the same caller hears of an order that does not exist.
            const unknown = randomUUID()
            const answer = yield* send(endpoint, unknown, ownerId, sku, jwt)
            expect({ status: answer.status, text: answer.text.replaceAll(unknown, "<id>") })
              .toEqual({ status: response.status, text: response.text.replaceAll(orderId, "<id>") })
          }
        }
        expect(outcomes).toEqual(expected)
      }), { timeout: 120_000 })
  }
})

describe("the authorization matrix", () => {
  it("lists every protected endpoint of the API", () => {
    const protectedPaths = new Set<string>()
    HttpApi.reflect(Api, {
      onGroup: () => {},
      onEndpoint: ({ endpoint, middleware }) => {
        if (middleware.size > 0) protectedPaths.add(`${endpoint.method} ${endpoint.path.replace(/:(\w+)/g, "{$1}")}`)
      }
    })
    const covered = new Set(endpoints.map((endpoint) => endpoint.name.replace(/\?.*$/, "")))
    expect([...protectedPaths].sort()).toEqual([...covered].sort())
  })
})
