/**
 * One trace from the HTTP command to the push and the read model: `serve` (API, relay, projector)
 * and a `worker` as processes, exporting over OTLP/JSON to a receiver inside the test. A command sent
 * with a traceparent yields spans of that trace in every step, the push request carries it, and the
 * log lines written in its spans name it.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import { randomBytes, randomUUID } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { startBuiltCli } from "../../bench/lib/processes.js"
import { authEnvironment, bearer, token } from "../support/auth.js"
import { freePort } from "../support/faults/toxiproxy.js"
import { messagingEnvironment, TestMessaging } from "../support/messaging.js"
import { notificationQueuesRemoved, pushGatewayLayer, TestPushGateway } from "../support/notifications.js"
import { opsMetric, opsPortOf } from "../support/ops.js"

interface ReceivedSpan {
  readonly service: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string
  readonly name: string
}

/** An OTLP/HTTP receiver of JSON traces: every span it was sent, with the service that sent it. */
const otlpReceiver = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly spans: Array<ReceivedSpan>; readonly close: () => void }>((resume) => {
    const spans: Array<ReceivedSpan> = []
    const server = createServer((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}")
        for (const resource of body.resourceSpans ?? []) {
          const service = (resource.resource?.attributes ?? []).find((a: any) => a.key === "service.name")?.value?.stringValue ?? ""
          for (const scope of resource.scopeSpans ?? []) {
            for (const span of scope.spans ?? []) {
              spans.push({ service, traceId: span.traceId, spanId: span.spanId, parentSpanId: span.parentSpanId ?? "", name: span.name })
            }
          }
        }
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, close: () => server.close() })))
  }),
  (receiver) => Effect.sync(receiver.close)
)

const Environment = Layer.mergeAll(notificationQueuesRemoved, pushGatewayLayer).pipe(Layer.provideMerge(messagingEnvironment))

layer(Environment, { excludeTestServices: true })("tracing", (it) => {
  it.scoped("a command's trace reaches the append, Kafka, the read model, RabbitMQ, the worker and the push", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const push = yield* TestPushGateway
      const receiver = yield* otlpReceiver
      const port = yield* freePort
      const tracing = {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_BSP_SCHEDULE_DELAY: "200"
      }
      const common = { DATABASE_URL: env.databaseUrl, MESSAGING_PREFIX: env.prefix, OUTBOX_POLL_INTERVAL: "200 millis", ...tracing }
      const serve = yield* startBuiltCli(["serve"], { ...common, ...authEnvironment, PORT: String(port), OPS_PORT: "0" })
      const ops = yield* opsPortOf(serve)
      yield* serve.waitForLine(/Listening on http/, 60_000)
      const worker = yield* startBuiltCli(["worker"], { ...common, PUSH_GATEWAY_URL: push.gateway.url, WORKER_PORT: "0" })
      yield* worker.waitForLine(/worker consuming/, 60_000)

      const customerId = randomUUID()
      const customer = yield* Effect.promise(() => token(customerId, { roles: ["customer"] }))
      const send = (path: string, headers: Record<string, string>, body?: unknown) =>
        Effect.promise(async () => {
          const response = await fetch(`http://127.0.0.1:${port}${path}`, {
            method: "POST",
            headers: { ...bearer(customer), ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
            ...(body === undefined ? {} : { body: JSON.stringify(body) })
          })
          return { status: response.status, json: await response.json() as any }
        })
      const placed = yield* send("/orders", {}, { customerId, currency: "EUR", lines: [{ sku: "tea", quantity: 1, unitPriceCents: 300 }] })
      expect(placed.status).toBe(201)

      // The client's own trace: confirming the order notifies the customer.
      const traceId = randomBytes(16).toString("hex")
      const clientSpan = randomBytes(8).toString("hex")
      const confirmed = yield* send(`/orders/${placed.json.orderId}/confirm`, { traceparent: `00-${traceId}-${clientSpan}-01` })
      expect(confirmed.status).toBe(200)

      const expected = [
        ["event-sourced-actors-serve", "http.server POST"],
        ["event-sourced-actors-serve", "ActorSystem.execute"],
        ["event-sourced-actors-serve", "EventStore.append"],
        ["event-sourced-actors-serve", "kafka publish"],
        ["event-sourced-actors-serve", "order_summaries write"],
        ["event-sourced-actors-serve", "rabbitmq publish"],
        ["event-sourced-actors-worker", "notification deliver"],
        ["event-sourced-actors-worker", "http.client POST"]
      ]
      const inTrace = () => receiver.spans.filter((span) => span.traceId === traceId)
      yield* Effect.suspend(() => {
        const seen = new Set(inTrace().map((span) => `${span.service} ${span.name}`))
        const missing = expected.filter(([service, name]) => !seen.has(`${service} ${name}`))
        return missing.length === 0 ? Effect.void : Effect.fail(missing)
      }).pipe(
        Effect.retry(Schedule.spaced("250 millis").pipe(Schedule.upTo("60 seconds"))),
        Effect.catchAll((missing) =>
          Effect.dieMessage(`spans missing from trace ${traceId}: ${JSON.stringify(missing)}; seen: ${JSON.stringify(inTrace())}`)
        )
      )
      const spans = inTrace()
      // The server's span is the child of the client's; every other span has a parent in the trace.
      expect(spans.find((span) => span.name === "http.server POST")!.parentSpanId).toBe(clientSpan)
      const ids = new Set([clientSpan, ...spans.map((span) => span.spanId)])
      for (const span of spans) expect(ids.has(span.parentSpanId), `${span.service} ${span.name}`).toBe(true)

      const pushed = push.gateway.requests.find((received) => received.body?.data?.notification === "confirmed")
      expect(pushed?.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`))
      // Log lines written inside the trace's spans name it.
      expect([...serve.lines, ...worker.lines].some((line) => line.includes(`traceId=${traceId}`))).toBe(true)
      // One access-log line for the request, in its trace, by route template, with the principal.
      const accessLines = serve.lines.filter((line) => line.includes(`message="http request"`) && line.includes(`traceId=${traceId}`))
      expect(accessLines).toHaveLength(1)
      expect(accessLines[0]).toMatch(/method=POST/)
      expect(accessLines[0]).toMatch(/route=\/orders\/:orderId\/confirm/)
      expect(accessLines[0]).toMatch(/status=200/)
      expect(accessLines[0]).toContain(`principal=${customerId}`)
      // And one observation of the request metric, by the same template.
      expect(yield* opsMetric(ops, `http_request_duration_seconds_count{method="POST",route="/orders/:orderId/confirm",status="200"}`)).toBe(1)
    }), { timeout: 180_000 })
})
