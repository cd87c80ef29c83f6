/** The HTTP server: the API, its request guard, OpenAPI at /openapi.json and Swagger UI at /docs. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiSwagger from "@effect/platform/HttpApiSwagger"
import * as HttpServer from "@effect/platform/HttpServer"
import { NodeHttpServer } from "@effect/platform-node"
import { Layer } from "effect"
import { createServer } from "node:http"
import { Api } from "./Api.js"
import { OrdersHttpLive } from "./orders/Http.js"
import { ReadModelsHttpLive } from "./readModels/Http.js"
import { requestGuard } from "./requestGuard.js"
import { SystemHttpLive } from "./system/Http.js"

export interface HttpServerOptions {
  readonly port: number
  readonly host?: string
  readonly maxBodyBytes: number
}

export const ApiLive = HttpApiBuilder.api(Api).pipe(Layer.provide([OrdersHttpLive, ReadModelsHttpLive, SystemHttpLive]))

/** Serves the API and exposes the bound server (its address); needs the actors, the store and SQL. */
export const layer = (options: HttpServerOptions) =>
  HttpApiBuilder.serve().pipe(
    Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
    Layer.provide(HttpApiBuilder.middlewareOpenApi()),
    Layer.provide(requestGuard(options.maxBodyBytes)),
    Layer.provide(ApiLive),
    HttpServer.withLogAddress,
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: options.port, host: options.host ?? "0.0.0.0" }))
  )
