/**
 * `make bench-cluster`: what the cluster costs and how it fails over.
 *
 * 1. Throughput. Commands spread over 1,000 orders (add an item, remove it again), from an external
 *    load generator (autocannon, a process per node, the connections shared out), against: the
 *    runtime without a cluster (CLUSTER=false, the floor: every aggregate decided in the process the
 *    request reached), one node, two and three. Every node gets requests for every order, so with n
 *    nodes (n-1)/n of them cross to the owner. The two cores bound any scaling; what matters is the
 *    cost of routing, and that no command is decided twice (version-conflict retries).
 * 2. Failover. Three nodes under a light load of commands sent to random nodes (each with an
 *    Idempotency-Key, retried on a 503 or a broken connection); a node killed (kill -9) and, later,
 *    stopped (SIGTERM), then started again, round after round: the time until every shard is owned
 *    again, the longest a command waited meanwhile, and that every acknowledged command is stored
 *    once.
 *
 * Nodes run with neither relay nor projector (the command path is measured).
 *
 *   node --import tsx bench/cluster.ts [--seconds 10] [--warmup 3] [--connections 64] [--orders 1000] [--kills 10] [--stops 5] [--max-nodes 3]
 */
import { Effect } from "effect"
import { parseArgs } from "node:util"
import { cpus } from "node:os"
import pg from "pg"
import { benchAuth } from "./lib/auth.js"
import { type ClusterNode, commandLoad, type NodePorts, startNode, sumOf, whenShardsSettled } from "./lib/cluster.js"
import { freshDatabase } from "./lib/database.js"
import { runPrefix } from "./lib/brokers.js"
import { withProgress } from "./lib/progress.js"
import { markdownTable, runBenchmark } from "./lib/report.js"
import { percentiles, ratio } from "./lib/stats.js"
import { failures, freeLocalPort, generate, placeOrders } from "./http.js"
import type { LoadOutcome } from "./http/loadGenerator.js"

export interface ClusterBenchSettings {
  readonly seconds: number
  readonly warmupSeconds: number
  readonly connections: number
  readonly orders: number
  readonly kills: number
  readonly stops: number
  /** The throughput setups go up to this many nodes (3: every setup). */
  readonly maxNodes: number
  readonly quiet: boolean
}

interface ThroughputRow {
  readonly setup: string
  readonly nodes: number
  readonly perSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly failed: number
  /** Share of the commands that crossed to another node. */
  readonly remoteShare: number | null
  readonly conflictRetries: number
}

interface FailoverRow {
  readonly round: number
  readonly fault: "kill -9" | "SIGTERM"
  /** From the signal until every shard is owned again, as a surviving node sees it. */
  readonly settledMs: number
  /** The process's exit after the signal. */
  readonly exitMs: number
  /** The longest any command answered after the signal took, retries included. */
  readonly worstWaitMs: number
}

const setups = [
  { setup: "no cluster (CLUSTER=false): floor", nodes: 1, clustered: false },
  { setup: "1 node", nodes: 1, clustered: true },
  { setup: "2 nodes", nodes: 2, clustered: true },
  { setup: "3 nodes", nodes: 3, clustered: true }
] as const

const deliveries = (target: string) => `cluster_deliveries_total{stream_type="order",target="${target}"}`
const conflicts = 'actor_conflict_retries_total{stream_type="order"}'

const nodeEnvironment = (databaseUrl: string, prefix: string, authEnv: Readonly<Record<string, string>>) => ({
  ...authEnv,
  DATABASE_URL: databaseUrl,
  MESSAGING_PREFIX: prefix,
  HTTP_ACCESS_LOG: "none",
  OUTBOX_RELAY: "false",
  PROJECTOR: "false"
})

/** A database of its own for each setup: a cluster is one per database. */
const freshNodes = (name: string, count: number, env: (databaseUrl: string) => Readonly<Record<string, string>>) =>
  Effect.gen(function*() {
    const database = yield* freshDatabase(name)
    const ports: Array<NodePorts> = []
    for (let i = 0; i < count; i++) ports.push({ http: yield* freeLocalPort, runner: yield* freeLocalPort })
    const common = env(database.url)
    const nodes = yield* Effect.all(ports.map((port, i) => startNode(`node-${i}`, port, common)), { concurrency: "unbounded" })
    return { database, ports, common, nodes }
  })

const throughput = (settings: ClusterBenchSettings, auth: Awaited<Effect.Effect.Success<ReturnType<typeof benchAuth>>>, prefix: string) =>
  withProgress("throughput", setups.filter((setup) => setup.nodes <= settings.maxNodes).length, settings.quiet, (progress) =>
    Effect.forEach(setups.filter((setup) => setup.nodes <= settings.maxNodes), (setup, i) =>
      Effect.scoped(Effect.gen(function*() {
        progress.update(i, { unit: "setups", detail: setup.setup })
        const { nodes } = yield* freshNodes(`cluster_${i}`, setup.nodes, (url) => ({
          ...nodeEnvironment(url, prefix, auth.env),
          CLUSTER: String(setup.clustered)
        }))
        if (setup.clustered) yield* whenShardsSettled(nodes[0]!, setup.nodes)
        const orders = yield* placeOrders(nodes[0]!.url, auth, settings.orders)
        const run = (seconds: number) =>
          Effect.all(
            nodes.map((node, n) =>
              generate({
                url: node.url,
                workload: "spread",
                targets: { customer: auth.customerId, orders: [...orders.slice(n), ...orders.slice(0, n)], hot: orders[0]! },
                authorization: auth.headers.authorization,
                // The connections shared out; the first nodes take what does not divide.
                connections: Math.floor(settings.connections / nodes.length) + (n < settings.connections % nodes.length ? 1 : 0),
                seconds
              })
            ),
            { concurrency: "unbounded" }
          )
        if (settings.warmupSeconds > 0) yield* run(settings.warmupSeconds)
        const before = { local: yield* sumOf(nodes, deliveries("local")), remote: yield* sumOf(nodes, deliveries("remote")), conflicts: yield* sumOf(nodes, conflicts) }
        const outcomes: ReadonlyArray<LoadOutcome> = yield* run(settings.seconds)
        const local = (yield* sumOf(nodes, deliveries("local"))) - before.local
        const remote = (yield* sumOf(nodes, deliveries("remote"))) - before.remote
        const row: ThroughputRow = {
          setup: setup.setup,
          nodes: setup.nodes,
          perSecond: outcomes.reduce((sum, outcome) => sum + outcome.perSecond, 0),
          // Requests-weighted p50; the worst of the generators' p99s (their histograms are not merged).
          p50Ms: Math.round(outcomes.reduce((sum, outcome) => sum + outcome.p50Ms * outcome.requests, 0) / outcomes.reduce((sum, outcome) => sum + outcome.requests, 0)),
          p99Ms: Math.max(...outcomes.map((outcome) => outcome.p99Ms)),
          failed: outcomes.reduce((sum, outcome) => sum + failures(outcome), 0),
          remoteShare: setup.clustered ? Number((remote / Math.max(1, local + remote)).toFixed(3)) : null,
          conflictRetries: (yield* sumOf(nodes, conflicts)) - before.conflicts
        }
        progress.update(i + 1, { unit: "setups", detail: `${setup.setup}: ${row.perSecond}/s` })
        return row
      })), { concurrency: 1 }))

/** Acknowledged commands stored more or less than once, by correlation id, over every stream the load touched. */
const misstored = (databaseUrl: string, acknowledged: ReadonlyArray<string>) =>
  Effect.promise(async () => {
    const client = new pg.Client({ connectionString: databaseUrl })
    await client.connect()
    try {
      const { rows } = await client.query<{ correlation_id: string; copies: number }>(
        `SELECT metadata->>'correlationId' AS correlation_id, count(*)::int AS copies FROM events GROUP BY 1`
      )
      const copies = new Map(rows.map((row) => [row.correlation_id, row.copies]))
      return acknowledged.filter((id) => copies.get(id) !== 1).length
    } finally {
      await client.end()
    }
  })

const failover = (settings: ClusterBenchSettings, auth: Awaited<Effect.Effect.Success<ReturnType<typeof benchAuth>>>, prefix: string) =>
  Effect.scoped(Effect.gen(function*() {
    const started = yield* freshNodes("cluster_failover", 3, (url) => nodeEnvironment(url, prefix, auth.env))
    const nodes: Array<ClusterNode | undefined> = [...started.nodes]
    yield* whenShardsSettled(started.nodes[0]!, 3)
    const running = yield* commandLoad({
      live: () => nodes.filter((node): node is ClusterNode => node !== undefined).map((node) => node.url),
      authorization: auth.headers.authorization,
      customerId: auth.customerId,
      orders: 300,
      clients: 8,
      retryForMs: 60_000
    })
    while ((yield* running.placed) < 300) yield* Effect.sleep("200 millis")
    const faults = [
      ...Array.from({ length: settings.kills }, () => "kill -9" as const),
      ...Array.from({ length: settings.stops }, () => "SIGTERM" as const)
    ]
    const rows: Array<FailoverRow> = []
    yield* withProgress("failover", faults.length, settings.quiet, (progress) =>
      Effect.forEach(faults, (fault, round) =>
        Effect.gen(function*() {
          const victim = round % 3
          const observer = nodes[(victim + 1) % 3]!
          const node = nodes[victim]!
          yield* Effect.sleep("2 seconds")
          nodes[victim] = undefined
          const signalled = performance.now()
          const sentBefore = (yield* running.sent).length
          yield* node.process.kill(fault === "kill -9" ? "SIGKILL" : "SIGTERM")
          const exitMs = yield* Effect.map(node.process.exited, () => performance.now() - signalled)
          yield* whenShardsSettled(observer, 2)
          const settledMs = performance.now() - signalled
          // Commands answered since the signal, within the next seconds: the longest wait among them.
          yield* Effect.sleep("3 seconds")
          const answered = (yield* running.sent).slice(sentBefore)
          rows.push({
            round: round + 1,
            fault,
            settledMs: Math.round(settledMs),
            exitMs: Math.round(exitMs),
            worstWaitMs: Math.round(Math.max(0, ...answered.map((command) => command.millis)))
          })
          nodes[victim] = yield* startNode(node.name, node.ports, started.common)
          yield* whenShardsSettled(observer, 3)
          progress.update(round + 1, { unit: "rounds", detail: `${fault}: ${Math.round(settledMs)} ms` })
        }), { discard: true }))
    const sent = yield* running.stop
    const acknowledged = sent.filter((command) => command.answer === "acknowledged")
    return {
      rows,
      commands: sent.length,
      acknowledged: acknowledged.length,
      unknown: sent.filter((command) => command.answer === "unknown").length,
      refused: sent.filter((command) => command.answer === "refused").length,
      misstored: yield* misstored(started.database.url, acknowledged.map((command) => command.correlationId))
    }
  }))

export const clusterMarkdown = (settings: ClusterBenchSettings, rows: ReadonlyArray<ThroughputRow>, failed: Effect.Effect.Success<ReturnType<typeof failover>>) => {
  const floor = rows.find((row) => !row.setup.includes("node"))!
  const summary = (fault: FailoverRow["fault"]) => {
    const of = failed.rows.filter((row) => row.fault === fault)
    if (of.length === 0) return []
    const spread = (values: ReadonlyArray<number>, withP99: boolean) => {
      const { p50Ms, p99Ms } = percentiles(values)
      return [p50Ms, ...(withP99 ? [p99Ms] : []), Math.max(...values)].map(Math.round).join(" / ")
    }
    return [[
      fault,
      of.length,
      spread(of.map((row) => row.settledMs), true),
      spread(of.map((row) => row.worstWaitMs), false),
      spread(of.map((row) => row.exitMs), false)
    ]]
  }
  return [
    `### Cluster: commands over ${settings.orders} orders, ${settings.connections} connections, ${settings.seconds} s per setup (after ${settings.warmupSeconds} s warm-up)`,
    "",
    markdownTable(
      ["setup", "commands/s", "p50 / p99 ms", "failed", "÷ floor", "crossed to the owner", "version-conflict retries"],
      rows.map((row) => [
        row.setup,
        row.perSecond,
        `${row.p50Ms} / ${row.p99Ms}`,
        row.failed,
        ratio(row.perSecond, floor.perSecond),
        row.remoteShare === null ? "—" : `${Math.round(row.remoteShare * 100)}%`,
        row.conflictRetries
      ])
    ),
    "",
    `Every node and the load generators share the machine's ${cpus().length} cores with PostgreSQL, so more nodes cannot ` +
    "mean more commands here: the rows show what routing costs. Each node's generator sends commands for every order, " +
    "so with n nodes (n-1)/n of them cross to their owner. p99 is the worst of the generators' (one per node).",
    "",
    `### Failover: three nodes, ${failed.rows.length} rounds under load`,
    "",
    markdownTable(
      ["fault", "rounds", "all shards owned again after, ms (p50 / p99 / max)", "longest command wait, ms (p50 / max)", "process exit, ms (p50 / max)"],
      [...summary("kill -9"), ...summary("SIGTERM")]
    ),
    "",
    `Over the rounds, ${failed.commands} commands from 8 clients at random nodes: ${failed.acknowledged} acknowledged, ` +
    `${failed.misstored} of them not stored exactly once; ${failed.unknown} never answered within 60 s, ${failed.refused} refused. ` +
    "The time is from the signal until a surviving node sees every shard owned by the two live nodes; a command's " +
    "wait includes its client's retries (every 200 ms, on another node, after a broken connection)."
  ].join("\n")
}

const main = Effect.gen(function*() {
  const { values } = parseArgs({
    options: {
      seconds: { type: "string", default: "10" },
      warmup: { type: "string", default: "3" },
      connections: { type: "string", default: "64" },
      orders: { type: "string", default: "1000" },
      kills: { type: "string", default: "10" },
      stops: { type: "string", default: "5" },
      "max-nodes": { type: "string", default: "3" }
    }
  })
  const settings: ClusterBenchSettings = {
    seconds: Number(values.seconds),
    warmupSeconds: Number(values.warmup),
    connections: Number(values.connections),
    orders: Number(values.orders),
    kills: Number(values.kills),
    stops: Number(values.stops),
    maxNodes: Number(values["max-nodes"]),
    quiet: false
  }
  const { rows, failed } = yield* runClusterBench(settings)
  const { quiet: _, ...recorded } = settings
  return { settings: recorded, rows: [...rows, ...failed.rows], markdown: clusterMarkdown(settings, rows, failed) }
})

/** Both parts, in databases and a prefix of their own (removed at the end). */
export const runClusterBench = (settings: ClusterBenchSettings) =>
  Effect.gen(function*() {
    const auth = yield* benchAuth("cluster")
    const { prefix } = yield* runPrefix("cluster")
    const rows = yield* throughput(settings, auth, prefix)
    const failed = yield* failover(settings, auth, prefix)
    return { rows, failed }
  }).pipe(Effect.scoped)

if (import.meta.url === `file://${process.argv[1]}`) runBenchmark("cluster", main)
