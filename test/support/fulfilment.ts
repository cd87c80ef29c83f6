/**
 * The fulfilment saga end to end, in-process: the HTTP API and the process manager on one runtime,
 * a database of their own (a process manager fulfils every confirmed order of its database), and the
 * local payment provider on a free port; the helpers call the API through its typed client.
 */
import { HttpServer } from "@effect/platform"
import { Context, Duration, Effect, Layer, Option } from "effect"
import { randomUUID } from "node:crypto"
import { expect } from "vitest"
import { HttpLive, SagasLive } from "../../src/app.js"
import { type DevPaymentProvider, startDevPaymentProvider } from "../../src/payments/DevPaymentProvider.js"
import { runMigrationsOn, scratchDatabase } from "./databases.js"
import { BaseUrl, typedApi } from "./http.js"
import { testConfig } from "./layers.js"

export class PaymentSink extends Context.Tag("test/PaymentSink")<PaymentSink, DevPaymentProvider>() {}

export interface FulfilmentSettings {
  readonly reservationTtl?: Duration.DurationInput
  readonly paymentTimeout?: Duration.DurationInput
  /** How long the provider's `test-late` answers take. */
  readonly lateMillis?: number
}

export const fulfilmentLayer = (settings: FulfilmentSettings = {}) =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const database = yield* scratchDatabase
    yield* runMigrationsOn(database.url)
    const sink = yield* Effect.acquireRelease(
      Effect.promise(() => startDevPaymentProvider({ port: 0, lateMillis: settings.lateMillis ?? 1_500 })),
      (provider) => Effect.promise(() => provider.close())
    )
    const server = Layer.effect(
      BaseUrl,
      Effect.map(HttpServer.HttpServer, (http) => {
        if (http.address._tag !== "TcpAddress") throw new Error("the test server should listen on TCP")
        return `http://127.0.0.1:${http.address.port}`
      })
    ).pipe(Layer.provide(HttpLive))
    // The process manager before the server: its feed's start is fixed before the first command.
    return Layer.merge(server.pipe(Layer.provideMerge(SagasLive)), Layer.succeed(PaymentSink, sink)).pipe(
      Layer.provide(testConfig({
        databaseUrl: database.url,
        payments: { providerUrl: Option.some(sink.url), timeout: Duration.decode(settings.paymentTimeout ?? "800 millis") },
        sagas: {
          enabled: true,
          pollInterval: Duration.millis(100),
          reservationTtl: Duration.decode(settings.reservationTtl ?? "15 minutes"),
          retryBaseDelay: Duration.millis(100),
          stepTimeout: Duration.seconds(5)
        }
      }))
    )
  }))

/** Sets a SKU's stock (as staff would) and returns the SKU. */
export const stocked = (onHand: number, sku = `SKU-${randomUUID().slice(0, 8)}`) =>
  Effect.gen(function*() {
    const api = yield* typedApi
    yield* api.inventory.setStock({ path: { sku }, headers: {}, payload: { onHand } })
    return sku
  })

/** Places and confirms an order of these lines (sku → quantity, 250 cents a unit); its id. */
export const confirmedOrder = (lines: Record<string, number>) =>
  Effect.gen(function*() {
    const api = yield* typedApi
    const { orderId } = yield* api.orders.place({
      headers: {},
      payload: {
        customerId: randomUUID(),
        currency: "EUR",
        lines: Object.entries(lines).map(([sku, quantity]) => ({ sku, quantity, unitPriceCents: 250 }))
      }
    })
    yield* api.orders.confirm({ path: { orderId }, headers: {} })
    return orderId
  })

export const fulfilmentOf = (orderId: string) =>
  Effect.flatMap(typedApi, (api) => api.orders.fulfilment({ path: { orderId } }))

export type Fulfilment = Effect.Effect.Success<ReturnType<typeof fulfilmentOf>>

/** Waits (up to `within`) until the order's saga shows what `ready` looks for; gives its last view. */
export const untilFulfilment = (orderId: string, ready: (fulfilment: Fulfilment) => boolean, within: Duration.DurationInput = "15 seconds") =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(Duration.decode(within))
    for (;;) {
      // Not found until the saga's first event is recorded.
      const seen = yield* Effect.option(fulfilmentOf(orderId))
      if (Option.isSome(seen) && ready(seen.value)) return seen.value
      if (Date.now() > deadline) {
        expect.fail(
          `order ${orderId}'s fulfilment did not get there within ${Duration.format(Duration.decode(within))}: ` +
            JSON.stringify(Option.getOrNull(seen))
        )
      }
      yield* Effect.sleep("50 millis")
    }
  })

export const orderOf = (orderId: string) =>
  Effect.flatMap(typedApi, (api) => api.orders.get({ path: { orderId }, headers: {}, urlParams: {} }))

export const stockOf = (sku: string) =>
  Effect.flatMap(typedApi, (api) => api.inventory.getStock({ path: { sku }, headers: {} }))
