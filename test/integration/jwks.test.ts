/**
 * Tokens verified against an identity provider's JWKS URL, as the provider rotates its keys and
 * as it goes away: a new key is fetched once when a token names it, a removed key is refused after
 * that refresh, keys already fetched keep verifying through an outage of the provider, and a key
 * that cannot be fetched is a 503, never a 500.
 */
import { expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Option } from "effect"
import * as jose from "jose"
import { randomUUID } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { authSettings, token } from "../support/auth.js"
import { BaseUrl, expectError, get, serverLayer } from "../support/http.js"

interface SigningKey {
  readonly kid: string
  readonly privateKey: jose.CryptoKey
  readonly publicJwk: jose.JWK
}

const signingKey = Effect.promise(async (): Promise<SigningKey> => {
  const pair = await jose.generateKeyPair("ES256", { extractable: true })
  const kid = `key-${randomUUID().slice(0, 8)}`
  return { kid, privateKey: pair.privateKey, publicJwk: { ...(await jose.exportJWK(pair.publicKey)), kid, alg: "ES256", use: "sig" } }
})

/** A provider's JWKS endpoint: the keys it publishes can change, it can fail, and it counts its fetches. */
const jwksEndpoint = Effect.acquireRelease(
  Effect.async<{ url: URL; keys: Array<jose.JWK>; fetches: () => number; failing: { now: boolean }; close: () => void }>((resume) => {
    const state = { keys: [] as Array<jose.JWK>, fetches: 0, failing: { now: false } }
    const server = createServer((_request, response) => {
      state.fetches++
      if (state.failing.now) return response.writeHead(503).end()
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: state.keys }))
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(Effect.succeed({
        url: new URL(`http://127.0.0.1:${port}/.well-known/jwks.json`),
        keys: state.keys,
        fetches: () => state.fetches,
        failing: state.failing,
        close: () => server.close()
      }))
    })
  }),
  (endpoint) => Effect.sync(endpoint.close)
)

const cooldown = Duration.millis(300)

/** A server verifying against the endpoint's keys, with a short cooldown and cache age; tests wait them out. */
const serverFor = (url: URL, cacheMaxAge: Duration.Duration) =>
  Layer.build(serverLayer({
    auth: {
      ...authSettings,
      mode: Option.some("jwks"),
      jwksUrl: Option.some(url),
      publicKeysFile: Option.none(),
      jwksCooldown: cooldown,
      jwksCacheMaxAge: cacheMaxAge
    }
  }))

const asAdmin = (key: SigningKey) => token(`admin-${randomUUID()}`, { roles: ["admin"], keyId: key.kid, privateKey: key.privateKey })

const readAs = (jwt: string) => get(`/orders/${randomUUID()}`, { token: jwt })

it.scopedLive("a rotated JWKS: the new key is fetched once and accepted, the removed key refused", () =>
  Effect.gen(function*() {
    const endpoint = yield* jwksEndpoint
    const [first, second] = [yield* signingKey, yield* signingKey]
    endpoint.keys.push(first.publicJwk)
    const context = yield* serverFor(endpoint.url, Duration.minutes(10))
    const run = <A, E>(effect: Effect.Effect<A, E, BaseUrl>) => Effect.provide(effect, context)

    const withFirst = yield* Effect.promise(() => asAdmin(first))
    // Authenticated, and no such order: 404 is the sign the token passed.
    expect((yield* run(readAs(withFirst))).status).toBe(404)
    expect(endpoint.fetches()).toBe(1)

    // The provider rotates: the second key replaces the first.
    endpoint.keys.splice(0, endpoint.keys.length, second.publicJwk)
    yield* Effect.sleep(Duration.sum(cooldown, Duration.millis(50)))
    const withSecond = yield* Effect.promise(() => asAdmin(second))
    expect((yield* run(readAs(withSecond))).status).toBe(404)
    expect(endpoint.fetches()).toBe(2)
    expect((yield* run(readAs(withSecond))).status).toBe(404)
    expect(endpoint.fetches()).toBe(2)

    // The removed key is refused, once the keys are refreshed, whatever its tokens claim.
    const refused = yield* run(readAs(withFirst))
    expectError(refused, 401, { error: "unauthorized" })
    expect(refused.json.message).toContain("no key of the issuer matches")
    const again = yield* run(readAs(yield* Effect.promise(() => asAdmin(first))))
    expect(again.status).toBe(401)
  }))

it.scopedLive("the provider down: keys already fetched keep verifying; a key never seen is 503 with Retry-After", () =>
  Effect.gen(function*() {
    const endpoint = yield* jwksEndpoint
    const [known, unseen] = [yield* signingKey, yield* signingKey]
    endpoint.keys.push(known.publicJwk)
    const cacheMaxAge = Duration.millis(500)
    const context = yield* serverFor(endpoint.url, cacheMaxAge)
    const run = <A, E>(effect: Effect.Effect<A, E, BaseUrl>) => Effect.provide(effect, context)
    const withKnown = yield* Effect.promise(() => asAdmin(known))
    expect((yield* run(readAs(withKnown))).status).toBe(404)

    endpoint.failing.now = true
    // Past the cache's age the keys are fetched again, and that fails: the known key still verifies.
    yield* Effect.sleep(Duration.sum(cacheMaxAge, Duration.millis(100)))
    const fetchesBefore = endpoint.fetches()
    expect((yield* run(readAs(withKnown))).status).toBe(404)
    expect(endpoint.fetches()).toBeGreaterThan(fetchesBefore)

    // A key the provider has published since, which cannot be fetched now: not the caller's fault.
    endpoint.keys.push(unseen.publicJwk)
    yield* Effect.sleep(Duration.sum(cooldown, Duration.millis(50)))
    const unavailable = yield* run(readAs(yield* Effect.promise(() => asAdmin(unseen))))
    expectError(unavailable, 503, { error: "identity_provider_unavailable" })
    expect(unavailable.headers.get("retry-after")).toBe("5")

    // The provider is back: the new key is fetched and accepted.
    endpoint.failing.now = false
    yield* Effect.sleep(Duration.sum(cooldown, Duration.millis(50)))
    expect((yield* run(readAs(yield* Effect.promise(() => asAdmin(unseen))))).status).toBe(404)
  }))

it.scopedLive("a server that never had the provider's keys answers 503 while the provider is down", () =>
  Effect.gen(function*() {
    const endpoint = yield* jwksEndpoint
    const key = yield* signingKey
    endpoint.keys.push(key.publicJwk)
    endpoint.failing.now = true
    const context = yield* serverFor(endpoint.url, Duration.minutes(10))
    const response = yield* Effect.provide(readAs(yield* Effect.promise(() => asAdmin(key))), context)
    expectError(response, 503, { error: "identity_provider_unavailable" })
  }))
