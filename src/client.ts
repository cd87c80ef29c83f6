/**
 * A typed client of the HTTP API for TypeScript callers, derived from the same `HttpApi` definition
 * the server serves (`HttpApiClient`): every endpoint is a method of its group, its request and
 * answer are the server's schemas, and each declared error comes back as its class (a failed
 * If-Match as `PreconditionFailed`, 304 as `NotModified`…).
 *
 *     import { FetchHttpClient } from "@effect/platform"
 *     import { Effect } from "effect"
 *     import { makeClient } from "event-sourced-actors/client"
 *
 *     const program = Effect.gen(function*() {
 *       const api = yield* makeClient({ baseUrl: "http://127.0.0.1:3000", token })
 *       const { orderId } = yield* api.orders.place({ headers: {}, payload: { customerId, currency: "EUR", lines } })
 *       const order = yield* api.orders.get({ path: { orderId }, headers: {}, urlParams: {} })
 *     }).pipe(Effect.provide(FetchHttpClient.layer))
 */
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type { Effect } from "effect"
import { Api } from "./http/Api.js"

export { Api } from "./http/Api.js"
export * from "./http/errors.js"

export interface ClientOptions {
  /** Where the API is served, e.g. `http://127.0.0.1:3000`. */
  readonly baseUrl: string
  /** A bearer token sent with every request (the public endpoints need none). */
  readonly token?: string | undefined
}

/** The client; needs an `HttpClient` (FetchHttpClient.layer, or Node's). */
export const makeClient = (options: ClientOptions) =>
  HttpApiClient.make(Api, {
    baseUrl: options.baseUrl,
    transformClient: (client) =>
      options.token === undefined ? client : HttpClient.mapRequest(client, HttpClientRequest.bearerToken(options.token))
  })

export type Client = Effect.Effect.Success<ReturnType<typeof makeClient>>
