/** The push gateway client: the bearer token from configuration goes with every push, and only then. */
import { NodeHttpClient } from "@effect/platform-node"
import { expect, it } from "@effect/vitest"
import { Duration, Effect, Redacted } from "effect"
import { createServer, type IncomingHttpHeaders } from "node:http"
import type { AddressInfo } from "node:net"
import * as PushGateway from "../../src/notifications/PushGateway.js"
import type { PushNotification } from "../../src/notifications/render.js"

/** A gateway that records the headers of each request. */
const recordingGateway = Effect.acquireRelease(
  Effect.async<{ url: string; received: Array<IncomingHttpHeaders>; close: () => void }>((resume) => {
    const received: Array<IncomingHttpHeaders> = []
    const server = createServer((request, response) => {
      received.push(request.headers)
      request.resume().on("end", () => response.writeHead(202).end())
    })
    server.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/push`, received, close: () => server.close() })))
  }),
  (gateway) => Effect.sync(gateway.close)
)

const notification: PushNotification = {
  to: "customer-1",
  title: "Shipped",
  body: "Your order is on its way",
  data: { streamType: "order", streamId: "order-1", eventId: "event-1", notification: "shipped", version: 6 }
}

it.scopedLive("with PUSH_GATEWAY_TOKEN, every push carries it as a bearer token; without it, no Authorization at all", () =>
  Effect.gen(function*() {
    const gateway = yield* recordingGateway
    const send = (token?: string) =>
      PushGateway.makeHttp({
        url: gateway.url,
        timeout: Duration.seconds(2),
        token: token === undefined ? undefined : Redacted.make(token)
      }).pipe(
        Effect.flatMap((client) => client.send(notification, "event-1")),
        Effect.provide(NodeHttpClient.layerUndici)
      )
    yield* send("s3cret")
    yield* send()
    expect(gateway.received.map((headers) => headers.authorization)).toEqual(["Bearer s3cret", undefined])
    expect(gateway.received.map((headers) => headers["idempotency-key"])).toEqual(["event-1", "event-1"])
  }))
