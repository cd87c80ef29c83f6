/**
 * The edge around access: rate limits per principal and per address (429 with Retry-After, then
 * recovery), the headers every response carries, CORS only for configured origins, and an OpenAPI
 * document that states each operation's security.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { adminToken, token } from "../support/auth.js"
import { BaseUrl, call, expectError, get, serverLayer } from "../support/http.js"
import type { ConfigOverrides } from "../support/layers.js"

/** A server of this test's own (limits are per process), for the effect given. */
const onServer = <A, E>(overrides: ConfigOverrides, effect: Effect.Effect<A, E, BaseUrl>) =>
  Effect.scoped(Effect.flatMap(Layer.build(serverLayer(overrides)), (context) => Effect.provide(effect, context)))

const limited = {
  rateLimits: { principal: { perSecond: 1, burst: 3 }, anonymous: { perSecond: 1, burst: 2 } }
}

/** An authenticated request that finds nothing: 404 says the token passed and the limit allowed it. */
const readAs = (jwt: string | null) => get(`/orders/${randomUUID()}`, { token: jwt })

describe("rate limits", () => {
  it.live("a principal gets its burst, then 429 with Retry-After, and passes again after that wait; others are not held up", () =>
    onServer(limited, Effect.gen(function*() {
      const [alice, bob] = yield* Effect.promise(() => Promise.all([token("alice", { roles: ["staff"] }), token("bob", { roles: ["staff"] })]))
      const statuses = []
      for (let i = 0; i < 4; i++) statuses.push((yield* readAs(alice)).status)
      expect(statuses).toEqual([404, 404, 404, 429])
      const refused = yield* readAs(alice)
      expectError(refused, 429, { error: "rate_limited", retryAfterSeconds: 1 })
      expect(refused.headers.get("retry-after")).toBe("1")
      expect(refused.json.message).toContain("subject alice")
      // Another principal has a bucket of its own.
      expect((yield* readAs(bob)).status).toBe(404)
      yield* Effect.sleep(`${Number(refused.headers.get("retry-after"))} seconds`)
      expect((yield* readAs(alice)).status).toBe(404)
    })))

  it.live("requests without a token are limited per address, public endpoints included; a valid token is not", () =>
    onServer(limited, Effect.gen(function*() {
      expect((yield* get("/health", { token: null })).status).toBe(200)
      expect((yield* readAs(null)).status).toBe(401)
      const refused = yield* get("/health", { token: null })
      expectError(refused, 429, { error: "rate_limited" })
      expect(refused.headers.get("retry-after")).toBe("1")
      // A public endpoint with any Authorization header still counts against the address.
      expect((yield* get("/ready", { token: adminToken })).status).toBe(429)
      // An authenticated caller from the same address is limited as a principal, not as the address.
      expect((yield* readAs(adminToken)).status).toBe(404)
      yield* Effect.sleep("1100 millis")
      expect((yield* get("/health", { token: null })).status).toBe(200)
    })))

  it.live("failed authentication counts against the address: guessing tokens meets 429 too", () =>
    onServer(limited, Effect.gen(function*() {
      const forged = yield* Effect.promise(() => token("mallory", { roles: ["admin"], foreignKey: true }))
      const statuses = []
      for (let i = 0; i < 3; i++) statuses.push((yield* readAs(forged)).status)
      expect(statuses).toEqual([401, 401, 429])
    })))
})

describe("headers", () => {
  it.live("every answer says nosniff and no-store: data, errors, public endpoints and the OpenAPI document", () =>
    onServer({}, Effect.gen(function*() {
      const answers = [
        yield* call("POST", "/orders", { body: { customerId: randomUUID(), lines: [{ sku: "A", quantity: 1, unitPriceCents: 1 }], currency: "EUR" } }),
        yield* readAs(adminToken),
        yield* readAs(null),
        yield* get("/no-such-route"),
        yield* get("/health", { token: null }),
        yield* get("/openapi.json", { token: null })
      ]
      expect(answers.map((answer) => answer.status)).toEqual([201, 404, 401, 404, 200, 200])
      for (const answer of answers) {
        expect(answer.headers.get("x-content-type-options")).toBe("nosniff")
        expect(answer.headers.get("cache-control")).toBe("no-store")
      }
    })))

  it.live("CORS is off unless CORS_ORIGINS lists the origin", () =>
    Effect.gen(function*() {
      const origin = "https://shop.example.com"
      const preflight = call("OPTIONS", "/orders", {
        token: null,
        headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" }
      })
      const off = yield* onServer({}, Effect.all([preflight, get("/health", { token: null, headers: { origin } })]))
      for (const answer of off) expect(answer.headers.get("access-control-allow-origin")).toBeNull()

      const on = yield* onServer({ http: { corsOrigins: [origin] } }, Effect.all([
        preflight,
        get(`/orders/${randomUUID()}`, { headers: { origin } }),
        get("/health", { token: null, headers: { origin: "https://evil.example.com" } })
      ]))
      const [allowedPreflight, allowedGet, otherOrigin] = on
      expect(allowedPreflight!.status).toBeLessThan(300)
      expect(allowedPreflight!.headers.get("access-control-allow-origin")).toBe(origin)
      expect(allowedPreflight!.headers.get("access-control-allow-headers")).toContain("authorization")
      expect(allowedGet!.headers.get("access-control-allow-origin")).toBe(origin)
      expect(allowedGet!.headers.get("access-control-expose-headers")).toContain("etag")
      expect(otherOrigin!.headers.get("access-control-allow-origin")).toBeNull()
    }))
})

describe("the OpenAPI document", () => {
  it.live("declares the bearer scheme, and for every operation its security and who may call it", () =>
    onServer({}, Effect.gen(function*() {
      const document = (yield* get("/openapi.json", { token: null })).json
      expect(document.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" })
      expect(Object.keys(document.paths)).not.toContain("/metrics")
      const operations = Object.entries(document.paths as Record<string, Record<string, any>>)
        .flatMap(([path, methods]) => Object.entries(methods).map(([method, operation]) => ({ name: `${method} ${path}`, operation })))
      expect(operations.length).toBeGreaterThan(10)
      for (const { name, operation } of operations) {
        expect(operation.security, name).toBeDefined()
        if (name.endsWith("/health") || name.endsWith("/ready")) {
          expect(operation.security, name).toEqual([])
          expect(operation.description, name).toContain("Public")
        } else {
          expect(operation.security, name).toEqual([{ bearer: [] }])
          expect(operation.description, name).toMatch(/Who may call it: .*(admin)/)
          expect(operation["x-roles"].length, name).toBeGreaterThan(0)
          expect(Object.keys(operation.responses), name).toEqual(expect.arrayContaining(["401", "403", "429"]))
        }
      }
    })))
})
