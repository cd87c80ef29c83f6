/**
 * Several `serve` processes as one cluster on one database: each order is decided on the node that
 * owns its shard, whichever node a client reached. Clients send commands to random nodes, with an
 * Idempotency-Key each and retries after a 503 or a broken connection, while nodes are killed,
 * stopped, added and restarted; then the history is judged — what each client was told against
 * what the store holds — not a count.
 */
import { expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { randomUUID } from "node:crypto"
import {
  type ClusterNode,
  commandLoad,
  type NodePorts,
  type SentCommand,
  startNode,
  sumOf,
  whenOwning,
  whenShardsSettled
} from "../../bench/lib/cluster.js"
import { StoreLive } from "../../src/app.js"
import { EventStore, type RecordedEvent } from "../../src/eventstore/EventStore.js"
import { adminToken, authEnvironment, bearer } from "../support/auth.js"
import { freePort } from "../support/faults/toxiproxy.js"
import { messagingEnvironment, TestMessaging } from "../support/messaging.js"
import { testConfig } from "../support/layers.js"

const nodeEnvironment = (databaseUrl: string, prefix: string) => ({
  ...authEnvironment,
  DATABASE_URL: databaseUrl,
  MESSAGING_PREFIX: prefix,
  RATE_LIMIT_PER_SECOND: "1000000",
  RATE_LIMIT_BURST: "1000000",
  HTTP_ACCESS_LOG: "none",
  // The command path is under test: the relay and the projector would only share the two cores.
  OUTBOX_RELAY: "false",
  PROJECTOR: "false"
})

/** The cluster of a test: `count` nodes' ports, the nodes started so far, and which of them take requests. */
const cluster = (count: number) =>
  Effect.gen(function*() {
    const env = yield* TestMessaging
    const common = nodeEnvironment(env.databaseUrl, env.prefix)
    const ports: Array<NodePorts> = []
    for (let i = 0; i < count; i++) ports.push({ http: yield* freePort, runner: yield* freePort })
    const nodes: Array<ClusterNode | undefined> = Array.from({ length: count }, () => undefined)
    const start = (i: number) => Effect.map(startNode(`node-${i}`, ports[i]!, common), (node) => (nodes[i] = node))
    return {
      nodes,
      node: (i: number) => nodes[i]!,
      live: () => nodes.filter((node): node is ClusterNode => node !== undefined).map((node) => node.url),
      start,
      /** Takes the node out of the clients' list, then signals it; gives its exit. */
      stop: (i: number, signal: "SIGKILL" | "SIGTERM") =>
        Effect.gen(function*() {
          const node = nodes[i]!
          nodes[i] = undefined
          yield* node.process.kill(signal)
          return yield* node.process.exited
        })
    }
  })

/** The events of every order the clients touched, as the store holds them. */
const storedHistories = (databaseUrl: string, sent: ReadonlyArray<SentCommand>) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const stored = new Map<string, ReadonlyArray<RecordedEvent>>()
    for (const id of new Set(sent.map((command) => command.orderId).filter((id) => id !== undefined))) {
      stored.set(id, yield* store.readStream(id))
    }
    return stored
  }).pipe(Effect.provide(StoreLive), Effect.provide(testConfig({ databaseUrl })), Effect.scoped)

/**
 * The history check: every stream's versions are 1..N; an acknowledged command is stored exactly
 * once, at the version its client was told; one whose outcome the client never learnt at most
 * once; no command was refused (each client sends only valid commands).
 */
const judge = (databaseUrl: string, sent: ReadonlyArray<SentCommand>) =>
  Effect.gen(function*() {
    const stored = yield* storedHistories(databaseUrl, sent)
    expect(sent.filter((command) => command.answer === "refused").map((command) => command.refusal)).toEqual([])
    for (const [id, events] of stored) {
      expect(events.map((event) => event.version), id).toEqual(events.map((_, i) => i + 1))
    }
    const byCorrelation = new Map<string, Array<RecordedEvent>>()
    for (const event of [...stored.values()].flat()) {
      const copies = byCorrelation.get(event.metadata.correlationId) ?? []
      copies.push(event)
      byCorrelation.set(event.metadata.correlationId, copies)
    }
    for (const command of sent) {
      const copies = byCorrelation.get(command.correlationId) ?? []
      if (command.answer === "acknowledged") expect(copies.map((event) => event.version), command.correlationId).toEqual([command.version])
      else expect(copies.length, command.correlationId).toBeLessThanOrEqual(1)
    }
    return sent.filter((command) => command.answer === "acknowledged").length
  })

const CUSTOMER = randomUUID()
const load = (live: () => ReadonlyArray<string>, orders: number, clients: number) =>
  commandLoad({ live, authorization: bearer(adminToken).authorization, customerId: CUSTOMER, orders, clients, retryForMs: 30_000 })

/** Until the clients have placed every order. */
const whilePlacing = (placed: Effect.Effect<number>, orders: number) =>
  Effect.gen(function*() {
    while ((yield* placed) < orders) yield* Effect.sleep("200 millis")
  })

const conflictRetries = 'actor_conflict_retries_total{stream_type="order"}'

/** Each test on a database of its own: a cluster is one per database (its shard locks are the database's). */
const TIMEOUT = Duration.toMillis(Duration.minutes(3))

it.scopedLive("three nodes: each order decided on its owner, every command stored once, a read on any node sees the latest", () =>
  Effect.gen(function*() {
    const env = yield* TestMessaging
    const nodes = yield* cluster(3)
    yield* Effect.all([0, 1, 2].map(nodes.start), { concurrency: "unbounded" })
    yield* whenShardsSettled(nodes.node(0), 3)
    // An even share each.
    for (const i of [0, 1, 2]) yield* whenOwning(nodes.node(i), 100)

    const running = yield* load(nodes.live, 1000, 24)
    yield* whilePlacing(running.placed, 1000)
    yield* Effect.sleep("3 seconds")
    const sent = yield* running.stop
    expect(sent.filter((command) => command.answer !== "acknowledged")).toEqual([])
    expect(yield* judge(env.databaseUrl, sent)).toBeGreaterThan(1000)

    // Routing works: nothing was decided twice, and two commands in three crossed to their owner.
    const all = [0, 1, 2].map(nodes.node)
    expect(yield* sumOf(all, conflictRetries)).toBe(0)
    const local = yield* sumOf(all, 'cluster_deliveries_total{stream_type="order",target="local"}')
    const remote = yield* sumOf(all, 'cluster_deliveries_total{stream_type="order",target="remote"}')
    expect(remote / (local + remote)).toBeGreaterThan(0.5)
    expect(remote / (local + remote)).toBeLessThan(0.8)

    // Read your writes on another node: the owner answers every read.
    const orderId = sent.find((command) => command.answer === "acknowledged")!.orderId
    for (let i = 0; i < 30; i++) {
      const writer = nodes.node(i % 3)
      const reader = nodes.node((i + 1) % 3)
      const written = yield* Effect.promise(() =>
        fetch(`${writer.url}/orders/${orderId}/items`, {
          method: "POST",
          headers: { ...bearer(adminToken), "content-type": "application/json" },
          body: JSON.stringify({ sku: `read-${i}`, quantity: 1, unitPriceCents: 1 })
        }))
      const read = yield* Effect.promise(() => fetch(`${reader.url}/orders/${orderId}`, { headers: bearer(adminToken) }))
      expect(read.headers.get("etag"), `write on ${writer.name}, read on ${reader.name}`).toBe(written.headers.get("etag"))
    }
  }).pipe(Effect.provide(messagingEnvironment)), TIMEOUT)

it.scopedLive("kill -9 of one node under load, then of another: their shards move, no acknowledged command lost or applied twice", () =>
  Effect.gen(function*() {
    const env = yield* TestMessaging
    const nodes = yield* cluster(3)
    yield* Effect.all([0, 1, 2].map(nodes.start), { concurrency: "unbounded" })
    yield* whenShardsSettled(nodes.node(0), 3)

    const running = yield* load(nodes.live, 300, 12)
    yield* whilePlacing(running.placed, 300)
    yield* Effect.sleep("2 seconds")
    yield* nodes.stop(1, "SIGKILL")
    // The dead node's database sessions end with it: its shard locks go, and the others take them.
    const firstFailover = yield* whenShardsSettled(nodes.node(0), 2, 20_000)
    yield* Effect.sleep("3 seconds")
    yield* nodes.stop(2, "SIGKILL")
    const secondFailover = yield* whenShardsSettled(nodes.node(0), 1, 20_000)
    yield* whenOwning(nodes.node(0), 300)
    yield* Effect.sleep("3 seconds")
    const sent = yield* running.stop
    yield* Effect.logInfo("failovers").pipe(Effect.annotateLogs({ firstMs: Math.round(firstFailover), secondMs: Math.round(secondFailover) }))

    expect(yield* judge(env.databaseUrl, sent)).toBeGreaterThan(300)
    // Every command reached a live owner in the end: those sent to a dying node were retried.
    expect(sent.filter((command) => command.answer === "unknown")).toEqual([])
  }).pipe(Effect.provide(messagingEnvironment)), TIMEOUT)

it.scopedLive("a node added takes a share; SIGTERM hands a node's shards over; a rolling restart under load loses nothing", () =>
  Effect.gen(function*() {
    const env = yield* TestMessaging
    const nodes = yield* cluster(3)
    yield* Effect.all([0, 1].map(nodes.start), { concurrency: "unbounded" })
    yield* whenShardsSettled(nodes.node(0), 2)

    const running = yield* load(nodes.live, 300, 12)
    yield* whilePlacing(running.placed, 300)
    yield* nodes.start(2)
    yield* whenShardsSettled(nodes.node(0), 3, 20_000)
    yield* whenOwning(nodes.node(2))

    for (const i of [0, 1, 2]) {
      const exit = yield* nodes.stop(i, "SIGTERM")
      expect(exit, `node-${i} stops on SIGTERM after finishing what it holds`).toEqual({ code: 0, signal: null })
      yield* whenShardsSettled(nodes.node((i + 1) % 3), 2, 20_000)
      yield* nodes.start(i)
      yield* whenShardsSettled(nodes.node(i), 3, 20_000)
    }
    yield* Effect.sleep("2 seconds")
    const sent = yield* running.stop

    expect(yield* judge(env.databaseUrl, sent)).toBeGreaterThan(300)
    expect(sent.filter((command) => command.answer === "unknown")).toEqual([])
  }).pipe(Effect.provide(messagingEnvironment)), TIMEOUT)
