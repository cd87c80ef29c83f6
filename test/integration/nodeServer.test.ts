/** The port is open before the application's handler is attached: a request then gets 503, not silence. */
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as NodeServer from "../../src/http/nodeServer.js"

const statusOf = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) })
    return { status: response.status, retryAfter: response.headers.get("retry-after"), body: await response.text() }
  })

it.scopedLive("before the handler: 503 with Retry-After; after it: the application answers", () =>
  Effect.gen(function*() {
    const context = yield* Layer.build(NodeServer.layer({ port: 0, host: "127.0.0.1" }))
    const server = Layer.succeedContext(context)
    const address = (yield* Effect.provide(HttpServer.HttpServer, context)).address
    const url = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}/` : ""
    expect(yield* statusOf(url)).toMatchObject({ status: 503, retryAfter: "1" })
    yield* Layer.build(HttpServer.serve(HttpServerResponse.text("served")).pipe(Layer.provide(server)))
    expect(yield* statusOf(url)).toMatchObject({ status: 200, body: "served" })
  }))
