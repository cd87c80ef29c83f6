/**
 * Toxiproxy (built by `make test` into .data/bin) as a scoped test resource: a server of the test's
 * own on free ports, and proxies in front of PostgreSQL, Kafka or RabbitMQ that a test tells to
 * stop forwarding without closing (half-open), delay, reset or refuse connections.
 */
import { Duration, Effect, Schedule } from "effect"
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import net from "node:net"
import { fileURLToPath } from "node:url"

const binary = fileURLToPath(new URL("../../../.data/bin/toxiproxy-server", import.meta.url))

export const freePort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

export interface Proxy {
  readonly name: string
  readonly port: number
  /** Requests and replies vanish; connections stay open (a black hole, as after a silent network failure). */
  readonly halfOpen: Effect.Effect<void>
  /** Every byte, both ways, waits this long. */
  readonly delay: (latency: Duration.DurationInput) => Effect.Effect<void>
  /** Connections are reset at their next byte. */
  readonly reset: Effect.Effect<void>
  /** Removes every toxic: traffic flows again (toxiproxy closes connections a black hole held). */
  readonly heal: Effect.Effect<void>
  /** Closes every connection and refuses new ones, until `enable`. */
  readonly disable: Effect.Effect<void>
  readonly enable: Effect.Effect<void>
}

export interface Toxiproxy {
  /** A proxy to `upstream`, listening on `listenPort` (a free port when not given). */
  readonly proxy: (name: string, upstream: string, listenPort?: number) => Effect.Effect<Proxy>
}

const request = (api: string, method: string, path: string, body?: unknown) =>
  Effect.tryPromise(async () => {
    const response = await fetch(`${api}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await response.text()
    if (!response.ok) throw new Error(`toxiproxy ${method} ${path}: ${response.status} ${text}`)
    return text
  })

/** A toxiproxy server for the scope. */
export const toxiproxy = Effect.gen(function*() {
  if (!existsSync(binary)) {
    return yield* Effect.dieMessage(`${binary} is missing: \`make test\` builds it (it needs Go), or \`make toxiproxy\``)
  }
  const apiPort = yield* freePort
  const api = `http://127.0.0.1:${apiPort}`
  yield* Effect.acquireRelease(
    Effect.sync(() => spawn(binary, ["-host", "127.0.0.1", "-port", String(apiPort)], { stdio: "ignore" })),
    (child) => Effect.sync(() => child.kill("SIGKILL"))
  )
  yield* request(api, "GET", "/version").pipe(
    Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 100 }),
    Effect.orDie
  )

  const proxy = (name: string, upstream: string, listenPort?: number) =>
    Effect.gen(function*() {
      const port = listenPort ?? (yield* freePort)
      yield* request(api, "POST", "/proxies", { name, listen: `127.0.0.1:${port}`, upstream, enabled: true })
      let toxics: Array<string> = []
      const addToxic = (type: string, stream: "upstream" | "downstream", attributes: Record<string, number>) =>
        Effect.suspend(() => {
          const toxic = `${type}-${stream}-${toxics.length}`
          toxics.push(toxic)
          return request(api, "POST", `/proxies/${name}/toxics`, { name: toxic, type, stream, toxicity: 1, attributes }).pipe(Effect.orDie)
        })
      const heal = Effect.suspend(() => {
        const current = toxics
        toxics = []
        return Effect.forEach(current, (toxic) => request(api, "DELETE", `/proxies/${name}/toxics/${toxic}`), { discard: true }).pipe(
          Effect.orDie
        )
      })
      return {
        name,
        port,
        halfOpen: Effect.asVoid(Effect.all([addToxic("timeout", "upstream", { timeout: 0 }), addToxic("timeout", "downstream", { timeout: 0 })])),
        delay: (latency) => {
          const ms = Duration.toMillis(Duration.decode(latency))
          return Effect.asVoid(Effect.all([addToxic("latency", "upstream", { latency: ms }), addToxic("latency", "downstream", { latency: ms })]))
        },
        reset: Effect.asVoid(addToxic("reset_peer", "upstream", { timeout: 0 })),
        heal,
        disable: Effect.orDie(Effect.asVoid(request(api, "POST", `/proxies/${name}`, { enabled: false }))),
        enable: Effect.orDie(Effect.asVoid(request(api, "POST", `/proxies/${name}`, { enabled: true })))
      } satisfies Proxy
    }).pipe(Effect.orDie)

  return { proxy } satisfies Toxiproxy
})
