/**
 * The HTTP server: the API with its request guard, authentication and rate limits, OpenAPI at
 * /openapi.json and Swagger UI at /docs, CORS when origins are configured, and the headers every
 * response carries.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiSwagger from "@effect/platform/HttpApiSwagger"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect, Layer, type LogLevel, Option } from "effect"
import * as RateLimits from "../auth/RateLimits.js"
import * as TokenVerifier from "../auth/TokenVerifier.js"
import * as ConsoleRoutes from "../console/routes.js"
import { observeRequests } from "./accessLog.js"
import { Api } from "./Api.js"
import { anonymousRateLimit, AuthenticationLive } from "./authenticate.js"
import * as NodeServer from "./nodeServer.js"
import { EventsHttpLive } from "./events/Http.js"
import { InventoryHttpLive } from "./inventory/Http.js"
import { OrdersHttpLive } from "./orders/Http.js"
import { ReadModelsHttpLive } from "./readModels/Http.js"
import { requestGuard } from "./requestGuard.js"
import { SystemHttpLive } from "./system/Http.js"

export interface HttpServerOptions {
  readonly port: number
  readonly host?: string
  readonly maxBodyBytes: number
  /** Browser origins allowed to call the API; none: no CORS headers at all. */
  readonly corsOrigins: ReadonlyArray<string>
  readonly accessLogLevel: LogLevel.LogLevel | "none"
}

export const ApiLive = HttpApiBuilder.api(Api).pipe(
  Layer.provide([OrdersHttpLive, InventoryHttpLive, ReadModelsHttpLive, EventsHttpLive, SystemHttpLive]),
  Layer.provide(AuthenticationLive)
)

/**
 * Every response: its type is what it says (no sniffing), and nothing of it is cached on the way.
 * Set while the server's handler is made, so that every request's fiber starts with it, rather than
 * added to each request.
 */
const withResponseHeaders = Layer.locally(
  HttpApp.currentPreResponseHandlers,
  Option.some((_request, response) =>
    Effect.succeed(HttpServerResponse.setHeaders(response, { "x-content-type-options": "nosniff", "cache-control": "no-store" }))
  )
)

/** A listed origin is named back (with Vary: Origin); any other gets no CORS headers at all. */
const cors = (origins: ReadonlyArray<string>) =>
  origins.length === 0 ? Layer.empty : HttpApiBuilder.middlewareCors({
    allowedOrigins: (origin) => origins.includes(origin),
    allowedMethods: ["GET", "POST", "PUT", "DELETE"],
    allowedHeaders: [
      "authorization",
      "content-type",
      "idempotency-key",
      "if-match",
      "if-none-match",
      "last-event-id",
      "x-correlation-id",
      "x-causation-id"
    ],
    exposedHeaders: ["etag", "link", "location", "retry-after", "x-correlation-id", "x-read-model-stale", "www-authenticate"],
    maxAge: 600
  })

/**
 * Serves the API and exposes the bound server (its address); needs the actors, the store and SQL.
 * The port opens after everything else is built (the layers provided later in this pipe are built
 * first), so that it answers at once.
 */
export const layer = (options: HttpServerOptions) =>
  HttpApiBuilder.serve(observeRequests(options.accessLogLevel)).pipe(
    withResponseHeaders,
    HttpServer.withLogAddress,
    Layer.provideMerge(NodeServer.layer({ port: options.port, host: options.host ?? "0.0.0.0" })),
    Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
    Layer.provide(ConsoleRoutes.layer),
    Layer.provide(HttpApiBuilder.middlewareOpenApi()),
    Layer.provide(requestGuard(options.maxBodyBytes)),
    Layer.provide([anonymousRateLimit, cors(options.corsOrigins)]),
    Layer.provide(ApiLive),
    Layer.provide([TokenVerifier.layer, RateLimits.layer])
  )
