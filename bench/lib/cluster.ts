/**
 * Several `serve` processes on one database as a cluster, for the multi-node tests and
 * `make bench-cluster`: start, kill, stop and restart nodes on fixed ports, read who owns what from
 * their ops servers, and drive commands at random live nodes while recording, for each command,
 * what its client was finally told — the history the tests judge.
 */
import { Effect, Ref } from "effect"
import { randomUUID } from "node:crypto"
import { type CliProcess, startBuiltCli } from "./processes.js"

export interface NodePorts {
  readonly http: number
  readonly runner: number
}

export interface ClusterNode {
  readonly name: string
  readonly ports: NodePorts
  readonly url: string
  readonly opsUrl: string
  readonly process: CliProcess
}

const OPS_LISTENING = /ops server \(.*\) at (http:\/\/[^\s"]+)/

/**
 * One node: `serve` (compiled) with its HTTP API and runner on the given ports, its ops server on
 * any free one; answered once its API is listening. `env` is shared by every node of the cluster.
 */
export const startNode = (name: string, ports: NodePorts, env: Readonly<Record<string, string>>) =>
  Effect.gen(function*() {
    const process = yield* startBuiltCli(["serve"], {
      ...env,
      PORT: String(ports.http),
      CLUSTER_RUNNER_PORT: String(ports.runner)
    })
    const opsUrl = OPS_LISTENING.exec(yield* process.waitForLine(OPS_LISTENING, 60_000))![1]!
    yield* process.waitForLine(/Listening on http/, 60_000)
    return { name, ports, url: `http://127.0.0.1:${ports.http}`, opsUrl, process } satisfies ClusterNode
  })

/** The value of one series on a node's /metrics (0 when absent); undefined when the node does not answer. */
export const metricOf = (node: ClusterNode, series: string) =>
  Effect.promise(async () => {
    try {
      const text = await (await fetch(`${node.opsUrl}/metrics`, { signal: AbortSignal.timeout(2_000) })).text()
      const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `))
      return line === undefined ? 0 : Number(line.slice(series.length + 1))
    } catch {
      return undefined
    }
  })

/** Sums a series over nodes (those that answer). */
export const sumOf = (nodes: ReadonlyArray<ClusterNode>, series: string) =>
  Effect.map(Effect.forEach(nodes, (node) => metricOf(node, series)), (values) => values.reduce<number>((sum, value) => sum + (value ?? 0), 0))

/**
 * Waits until, as `observer` sees it, every shard is owned and exactly `owners` nodes own some;
 * gives the milliseconds it took. Fails after `timeoutMs`.
 */
export const whenShardsSettled = (observer: ClusterNode, owners: number, timeoutMs = 60_000) =>
  Effect.gen(function*() {
    const started = performance.now()
    for (;;) {
      const unowned = yield* metricOf(observer, "cluster_shards_unowned")
      const holding = yield* metricOf(observer, "cluster_nodes_owning_shards")
      // The gauges are set once a second: a fresh look after the change is what counts.
      if (unowned === 0 && holding === owners) return performance.now() - started
      if (performance.now() - started > timeoutMs) {
        return yield* Effect.dieMessage(`shards not settled on ${owners} nodes within ${timeoutMs} ms (unowned ${unowned}, nodes ${holding})`)
      }
      yield* Effect.sleep("100 millis")
    }
  })

/**
 * Waits until the node says it owns `shards` shards, or any when not given (its gauge is set once a
 * second); fails after `timeoutMs`.
 */
export const whenOwning = (node: ClusterNode, shards?: number, timeoutMs = 20_000) =>
  Effect.gen(function*() {
    const started = performance.now()
    for (;;) {
      const owned = (yield* metricOf(node, "cluster_shards_owned")) ?? 0
      if (shards === undefined ? owned > 0 : owned === shards) return
      if (performance.now() - started > timeoutMs) {
        return yield* Effect.dieMessage(`${node.name} does not own ${shards ?? "any"} shards within ${timeoutMs} ms (it owns ${owned})`)
      }
      yield* Effect.sleep("100 millis")
    }
  })

/** What a client was finally told about one command. */
export type Answer = "acknowledged" | "refused" | "unknown"

export interface SentCommand {
  readonly orderId: string
  /** Sent as X-Correlation-Id: how the command's events are found in the store. */
  readonly correlationId: string
  readonly answer: Answer
  readonly version?: number
  /** From the first try to the final answer, retries included. */
  readonly millis: number
  readonly attempts: number
  readonly refusal?: string
}

export interface LoadOptions {
  /** The nodes' base URLs to send to, asked before each try (a node being restarted is left out). */
  readonly live: () => ReadonlyArray<string>
  readonly authorization: string
  readonly customerId: string
  /** Orders placed first; then items added to them at random, and removed again. */
  readonly orders: number
  readonly clients: number
  /** A command is retried with its Idempotency-Key for this long after a 503 or a broken connection. */
  readonly retryForMs: number
}

interface Reply {
  readonly status: number
  readonly json: any
}

/**
 * Clients that behave as the README tells them to: every command with an Idempotency-Key and an
 * X-Correlation-Id of its own, retried with them on any node after a 503 or a broken connection.
 * First each client places its share of the orders, then it adds an item to a random one and
 * removes it again, until stopped. Gives the fiber's handle: `stop` ends the loop, `sent` is the history so far.
 */
export const commandLoad = (options: LoadOptions) =>
  Effect.gen(function*() {
    const sent = yield* Ref.make<ReadonlyArray<SentCommand>>([])
    const orderIds: Array<string> = []
    const state = { stopped: false }

    const request = (method: "POST" | "DELETE", path: string, body: unknown, headers: Record<string, string>) =>
      Effect.promise(async (): Promise<Reply> => {
        const live = options.live()
        if (live.length === 0) return { status: 0, json: undefined }
        const base = live[Math.floor(Math.random() * live.length)]!
        try {
          const response = await fetch(`${base}${path}`, {
            method,
            headers: { authorization: options.authorization, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
            signal: AbortSignal.timeout(30_000)
          })
          return { status: response.status, json: await response.json().catch(() => undefined) }
        } catch {
          return { status: 0, json: undefined }
        }
      })

    const send = (orderId: string | undefined, method: "POST" | "DELETE", path: string, body?: unknown) =>
      Effect.gen(function*() {
        const correlationId = randomUUID()
        const headers = { "idempotency-key": randomUUID(), "x-correlation-id": correlationId }
        const started = performance.now()
        for (let attempt = 1;; attempt++) {
          const reply = yield* request(method, path, body, headers)
          const millis = performance.now() - started
          const done = (answer: Answer, extra: Partial<SentCommand> = {}) =>
            Effect.as(
              Ref.update(sent, (all) => [...all, { orderId: orderId ?? reply.json?.orderId, correlationId, answer, millis, attempts: attempt, ...extra }]),
              reply
            )
          if (reply.status >= 200 && reply.status < 300) return yield* done("acknowledged", { version: reply.json.version })
          if (reply.status >= 400 && reply.status < 500) {
            return yield* done("refused", { refusal: `${reply.status} ${JSON.stringify(reply.json)}` })
          }
          if (millis > options.retryForMs || state.stopped) return yield* done("unknown")
          yield* Effect.sleep("200 millis")
        }
      })

    const client = (index: number) =>
      Effect.gen(function*() {
        for (let i = index; i < options.orders && !state.stopped; i += options.clients) {
          const reply = yield* send(undefined, "POST", "/orders", {
            customerId: options.customerId,
            currency: "EUR",
            lines: [{ sku: "A", quantity: 1, unitPriceCents: 100 }]
          })
          if (reply.status === 201) orderIds.push(reply.json.orderId)
        }
        let n = 0
        while (!state.stopped && orderIds.length > 0) {
          // An item added and removed again: every command is one the order accepts, and no order fills up.
          const orderId = orderIds[Math.floor(Math.random() * orderIds.length)]!
          const sku = `sku-${index}-${n++}`
          const added = yield* send(orderId, "POST", `/orders/${orderId}/items`, { sku, quantity: 1, unitPriceCents: 5 })
          if (added.status === 200) yield* send(orderId, "DELETE", `/orders/${orderId}/items/${sku}`)
        }
      })

    const fiber = yield* Effect.fork(Effect.all(Array.from({ length: options.clients }, (_, i) => client(i)), { concurrency: "unbounded", discard: true }))
    return {
      sent: Ref.get(sent),
      /** Orders placed so far. */
      placed: Effect.sync(() => orderIds.length),
      stop: Effect.suspend(() => {
        state.stopped = true
        return Effect.zipRight(Effect.asVoid(fiber.await), Ref.get(sent))
      })
    }
  })
