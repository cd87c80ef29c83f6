/**
 * The web console's routes, mounted on the API's router (as Swagger UI's /docs is), so that the API
 * process serves it at /console. The effectful shell: each handler reads the session (the API's
 * token, verified again on every request), checks what the access policy grants, reads what the page
 * shows, and renders it with the pure page functions. Every answer is a page: failures become pages
 * that say what happened and what to do.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Effect, Layer } from "effect"
import * as DeliveryStore from "../notifications/DeliveryStore.js"
import * as OutboxStore from "../outbox/OutboxStore.js"
import * as ProcessStore from "../processes/ProcessStore.js"
import * as QuarantineStore from "../quarantine/QuarantineStore.js"
import { adminRoutes } from "./routes/admin.js"
import { assetRoutes } from "./routes/assets.js"
import { liveRoutes } from "./routes/live.js"
import { notFoundRoute } from "./routes/notFound.js"
import { orderRoutes } from "./routes/orders.js"
import { signInRoutes } from "./routes/signIn.js"
import * as Shell from "./shell.js"

export const layer = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const shell = yield* Shell.make
    yield* assetRoutes(router, shell)
    yield* signInRoutes(router, shell)
    yield* orderRoutes(router, shell)
    yield* liveRoutes(router, shell)
    yield* adminRoutes(router, shell)
    // Last: it answers whatever the routes above do not.
    yield* notFoundRoute(router, shell)
  })
).pipe(Layer.provide([OutboxStore.layer, QuarantineStore.layer, DeliveryStore.layer, ProcessStore.layer, FetchHttpClient.layer]))
