/**
 * A stand-in for a push provider, for development, tests and benchmarks: it takes the worker's POSTs,
 * remembers them, and answers as told (200 by default). Like real providers it honours
 * `Idempotency-Key` by default: a repeated key is answered 200 and counted as a repeat, not as a new
 * push. With `honoursIdempotencyKey: false` it is a provider that does not: every successful POST is
 * a push shown, which is what a worker's repeats would cost with such a provider.
 * `GET /health` answers 200 `{"status":"ok"}` and is no push, for a container's health check.
 * `make push-sink` (`node dist/cli/main.js push-sink --port 4000`) runs one that logs each push.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"

export interface ReceivedPush {
  readonly idempotencyKey: string
  /** The trace the push belongs to, as the worker's request carried it. */
  readonly traceparent: string | undefined
  readonly body: any
  readonly at: number
}

export interface Answer {
  readonly status: number
  readonly headers?: Readonly<Record<string, string>>
  /** Answer after this many milliseconds. */
  readonly delayMs?: number
}

export interface DevPushGateway {
  readonly url: string
  /** Every POST, in arrival order, repeats included. */
  readonly requests: ReadonlyArray<ReceivedPush>
  /** Pushes shown: the first successful POST of each key (each successful POST when keys are not honoured). */
  readonly delivered: ReadonlyArray<ReceivedPush>
  readonly close: () => Promise<void>
}

export const startDevPushGateway = (options: {
  readonly port?: number
  /** Where it listens (default 127.0.0.1; 0.0.0.0 in a container, for the worker's). */
  readonly host?: string
  /** Whether a repeated `Idempotency-Key` is recognised (default true). */
  readonly honoursIdempotencyKey?: boolean
  /** How to answer a POST; `attempt` counts the POSTs of this key so far, this one included. */
  readonly answer?: (push: ReceivedPush, attempt: number) => Answer
  readonly onDelivered?: (push: ReceivedPush) => void
} = {}): Promise<DevPushGateway> => {
  const honoursKey = options.honoursIdempotencyKey ?? true
  const requests: Array<ReceivedPush> = []
  const delivered: Array<ReceivedPush> = []
  const shown = new Set<string>()
  const attempts = new Map<string, number>()
  const server: Server = createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      if (request.method === "GET" && new URL(request.url ?? "/", "http://gateway").pathname === "/health") {
        response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ status: "ok" }))
        return
      }
      let body: unknown
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"))
      } catch {
        response.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: "body is not JSON" }))
        return
      }
      const idempotencyKey = String(request.headers["idempotency-key"] ?? "")
      // A plain node:http server outside any Effect: when a push arrived, by the wall clock.
      const traceparent = request.headers["traceparent"]
      const push: ReceivedPush = { idempotencyKey, traceparent: typeof traceparent === "string" ? traceparent : undefined, body, at: Date.now() }
      requests.push(push)
      const attempt = (attempts.get(idempotencyKey) ?? 0) + 1
      attempts.set(idempotencyKey, attempt)
      const repeat = honoursKey && shown.has(idempotencyKey)
      const answer = repeat ? { status: 200 } : options.answer?.(push, attempt) ?? { status: 200 }
      const reply = () => {
        if (answer.status >= 200 && answer.status < 300 && !(honoursKey && shown.has(idempotencyKey))) {
          shown.add(idempotencyKey)
          delivered.push(push)
          options.onDelivered?.(push)
        }
        response.writeHead(answer.status, { "content-type": "application/json", ...answer.headers })
        response.end(JSON.stringify({ status: answer.status }))
      }
      if (answer.delayMs !== undefined) setTimeout(reply, answer.delayMs)
      else reply()
    })
  })
  return new Promise((resolve) =>
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      const { address, port } = server.address() as AddressInfo
      // A wildcard address is reached at loopback from this host.
      const reachable = address === "0.0.0.0" || address === "::" ? "127.0.0.1" : address.includes(":") ? `[${address}]` : address
      resolve({
        url: `http://${reachable}:${port}/push`,
        requests,
        delivered,
        close: () =>
          new Promise((done) => {
            server.close(() => done())
            server.closeAllConnections()
          })
      })
    })
  )
}
