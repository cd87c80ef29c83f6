/** A real HTTP server of the application on a free port, and a small fetch client for e2e tests. */
import { FetchHttpClient, HttpServer } from "@effect/platform"
import { Context, Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { expect } from "vitest"
import { HttpLive } from "../../src/app.js"
import { makeClient } from "../../src/client.js"
import { adminToken, bearer } from "./auth.js"
import { type ConfigOverrides, testConfig } from "./layers.js"

/** Where the server under test listens, e.g. `http://127.0.0.1:41234`. */
export class BaseUrl extends Context.Tag("test/BaseUrl")<BaseUrl, string>() {}

/** The application's HTTP layer, bound to a free port with the test settings; exposes its base URL. */
export const serverLayer = (overrides: ConfigOverrides = {}) =>
  Layer.effect(
    BaseUrl,
    Effect.map(HttpServer.HttpServer, (server) => {
      if (server.address._tag !== "TcpAddress") throw new Error("the test server should listen on TCP")
      return `http://127.0.0.1:${server.address.port}`
    })
  ).pipe(Layer.provide(HttpLive), Layer.provide(testConfig(overrides)))

/** The API's typed client (src/client.ts) for the server under test, acting as an admin. */
export const typedApi = Effect.flatMap(BaseUrl, (baseUrl) => makeClient({ baseUrl, token: adminToken })).pipe(
  Effect.provide(FetchHttpClient.layer)
)

export interface ApiResponse {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  /** The body parsed as JSON; undefined when it is not JSON. */
  readonly json: any
}

export interface RequestOptions {
  /** The bearer token sent; an admin's unless given, none when null. */
  readonly token?: string | null
  /** Serialized with JSON.stringify and sent as `application/json`. */
  readonly body?: unknown
  /** Sent as is, with no Content-Type unless `headers` sets one. */
  readonly raw?: string
  readonly headers?: Readonly<Record<string, string>>
}

/** Raw text sent as `application/json`: for bodies JSON.stringify cannot write (broken JSON, 1e309, duplicate keys). */
export const jsonText = (raw: string, headers: Readonly<Record<string, string>> = {}): RequestOptions => ({
  raw,
  headers: { "content-type": "application/json", ...headers }
})

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** One request to the server under test; any HTTP status is an answer, not a failure. */
export const call = (method: string, path: string, options: RequestOptions = {}) =>
  Effect.gen(function*() {
    const base = yield* BaseUrl
    const token = options.token === undefined ? adminToken : options.token
    const headers: Record<string, string> = { ...(token === null ? {} : bearer(token)), ...options.headers }
    let body: string | Blob | undefined
    if (options.raw !== undefined) {
      // A Blob without a type makes fetch send no Content-Type; a plain string would be text/plain.
      body = new Blob([options.raw])
    } else if ("body" in options) {
      body = JSON.stringify(options.body)
      headers["content-type"] ??= "application/json"
    }
    return yield* Effect.promise(async (): Promise<ApiResponse> => {
      const response = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) })
      const text = await response.text()
      return { status: response.status, headers: response.headers, text, json: parseJson(text) }
    })
  })

export const get = (path: string, options?: RequestOptions) => call("GET", path, options)
export const post = (path: string, options?: RequestOptions) => call("POST", path, options)
export const del = (path: string, options?: RequestOptions) => call("DELETE", path, options)

/** The ETag this API gives a version, and that If-Match takes back. */
export const etag = (version: number) => `"${version}"`

export const placeOrderBody = (overrides: Record<string, unknown> = {}) => ({
  customerId: randomUUID(),
  lines: [{ sku: "A", quantity: 1, unitPriceCents: 100 }],
  currency: "EUR",
  ...overrides
})

/** Places an order (one line, A × 1 at 100 EUR cents unless told otherwise) and returns its id. */
export const placeOrder = (overrides: Record<string, unknown> = {}, options: Omit<RequestOptions, "body" | "raw"> = {}) =>
  Effect.map(post("/orders", { ...options, body: placeOrderBody(overrides) }), (response) => {
    expect(response.status, response.text).toBe(201)
    return response.json.orderId as string
  })

/**
 * An error answer of this API: the status, and a problem document (RFC 9457) with this API's
 * `{ error, message, ... }` and a message that says something.
 */
export const expectError = (response: ApiResponse, status: number, details: Record<string, unknown> = {}) => {
  expect(response.status, `expected ${status}, got ${response.status}: ${response.text}`).toBe(status)
  expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/)
  expect(response.json).toMatchObject({
    status,
    title: expect.stringMatching(/\S/),
    error: expect.any(String),
    message: expect.stringMatching(/\S/),
    ...details
  })
}
