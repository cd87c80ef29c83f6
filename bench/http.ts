/**
 * `make bench-http`: what HTTP clients see. A real `serve` process, started as `make run` starts it
 * (compiled, relay and projector inside); an external load generator (autocannon) in a process of its
 * own; and the floor in the same run — a bare `node:http` server doing one INSERT per command — so
 * every figure stands beside what the machine allows. Every request carries a customer's bearer
 * token (bench/lib/auth.ts), which the service verifies and the floor ignores; the service's
 * /metrics are read from its ops port.
 *
 *   node --import tsx bench/http.ts [--seconds 10] [--warmup 3] [--connections 64] [--orders 1000] [--workloads place,spread,…]
 */
import { FetchHttpClient } from "@effect/platform"
import { Effect } from "effect"
import { parseArgs } from "node:util"
import { createServer } from "node:net"
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs"
import { cpus, tmpdir } from "node:os"
import path from "node:path"
import { type BenchAuth, benchAuth } from "./lib/auth.js"
import { freshDatabase } from "./lib/database.js"
import { runPrefix, settings } from "./lib/brokers.js"
import { type CliProcess, cpuSeconds, residentMiB, startBuiltCli, startScript } from "./lib/processes.js"
import { withProgress } from "./lib/progress.js"
import { markdownTable, resultsDirectory, runMain, writeAndPrint } from "./lib/report.js"
import { profileMarkdown, summarize } from "./lib/cpuProfile.js"
import { ratio } from "./lib/stats.js"
import type { LoadOutcome, LoadRun } from "./http/loadGenerator.js"
import { placeBody, type Targets, type Workload, workloads } from "./http/workloads.js"
import { makeClient } from "../src/client.js"

export interface HttpBenchSettings {
  readonly seconds: number
  readonly warmupSeconds: number
  readonly connections: number
  readonly orders: number
  readonly workloads: ReadonlyArray<Workload>
  readonly quiet: boolean
  /** Where the service writes a CPU profile of the whole run (node --cpu-prof), if anywhere. */
  readonly profileDirectory?: string
}

export type Target = "service" | "floor"

export interface HttpRow extends LoadOutcome {
  readonly workload: Workload
  readonly target: Target
  /** What the floor is for this workload: bare INSERT server, or the service's own /health. */
  readonly floor: string
  /** CPU the server process used during the run, as a share of one core. */
  readonly serverCpuShare: number
  readonly serverRssMiB: number
  /** Of the service's group commits during the run: appends each, and time each (mean); null when none. */
  readonly appendsPerGroup: number | null
  readonly groupCommitMs: number | null
}

/** Which floor each workload is measured against, and how it is named in the table. */
const floorOf = (workload: Workload): { readonly target: Target; readonly workload: Workload; readonly name: string } | undefined =>
  workload === "get"
    ? { target: "service", workload: "health", name: "GET /health, same server" }
    : workload === "health"
    ? undefined
    : { target: "floor", workload, name: "bare node:http + INSERT" }

export const freeLocalPort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    server.close(() => resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0)))
  })
})

/** Waits until `url` answers 200; fails with what the service printed if it does not in time. */
export const waitReady = (url: string, timeoutMs: number, service: CliProcess) =>
  Effect.tryPromise({
    try: async () => {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        // Every wait has a timeout: a try that gets no answer is given up and made again.
        const status = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then((response) => response.status, () => 0)
        if (status === 200) return
        if (Date.now() > deadline) throw new Error(`${url} not ready within ${timeoutMs} ms (last status ${status})`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    },
    catch: (error) => error as Error
  }).pipe(Effect.catchAll((error) => Effect.dieMessage(`${error.message}; the service printed:\n${service.lines.join("\n")}`)))

/** Places `count` orders of the run's customer through the API's typed client (16 at a time); gives their ids. */
export const placeOrders = (base: string, auth: BenchAuth, count: number) =>
  Effect.gen(function*() {
    const api = yield* makeClient({ baseUrl: base, token: auth.headers.authorization.replace(/^Bearer /, "") })
    const payload = JSON.parse(placeBody(auth.customerId)) as Parameters<typeof api.orders.place>[0]["payload"]
    return yield* Effect.forEach(
      Array.from({ length: count }),
      () => Effect.map(api.orders.place({ headers: {}, payload }), (accepted) => accepted.orderId),
      { concurrency: 16 }
    )
  }).pipe(
    Effect.mapError((error) => new Error(`placing an order: ${"message" in error ? error.message : String(error)}`)),
    Effect.provide(FetchHttpClient.layer)
  )

/**
 * Waits until the server is quiet (under a fifth of a core for a second, or 60 s at most): the relay
 * and the projector still working through what the previous run wrote would be charged to the next.
 */
const settle = (pid: number) =>
  Effect.gen(function*() {
    for (let second = 0; second < 60; second++) {
      const before = cpuSeconds(pid)
      yield* Effect.sleep("1 second")
      if (cpuSeconds(pid) - before < 0.2) return
    }
  })

/** The service's group-commit histograms (sum and count of each), as /metrics on its ops port has them. */
const groupCommits = (opsUrl: string) =>
  Effect.promise(async () => {
    const text = await (await fetch(`${opsUrl}/metrics`)).text()
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? 0)
    return {
      groups: value("eventstore_group_commit_appends_count"),
      appends: value("eventstore_group_commit_appends_sum"),
      millis: value("eventstore_group_commit_duration_seconds_sum") * 1000
    }
  })

/** One autocannon run in a process of its own: its outcome. */
export const generate = (run: LoadRun) =>
  Effect.scoped(Effect.gen(function*() {
    const generator = yield* startScript("bench/http/loadGenerator.ts", [JSON.stringify(run)])
    const exit = yield* generator.exited
    const line = [...generator.lines].reverse().find((l) => l.startsWith("{"))
    if (exit.code !== 0 || line === undefined) {
      return yield* Effect.dieMessage(`the load generator failed:\n${generator.lines.join("\n")}`)
    }
    return JSON.parse(line) as LoadOutcome
  }))

/**
 * One autocannon run in its own process; the server's CPU and memory, and the service's group
 * commits, are read around it.
 */
const load = (run: LoadRun, serverPid: number, opsUrl: string) =>
  Effect.gen(function*() {
    const commitsBefore = yield* groupCommits(opsUrl)
    const cpuBefore = cpuSeconds(serverPid)
    const outcome = yield* generate(run)
    const cpu = cpuSeconds(serverPid) - cpuBefore
    const commitsAfter = yield* groupCommits(opsUrl)
    const groups = commitsAfter.groups - commitsBefore.groups
    return {
      outcome,
      serverCpuShare: Number((cpu / outcome.seconds).toFixed(2)),
      serverRssMiB: residentMiB(serverPid),
      appendsPerGroup: groups > 0 ? Number(((commitsAfter.appends - commitsBefore.appends) / groups).toFixed(1)) : null,
      groupCommitMs: groups > 0 ? Number(((commitsAfter.millis - commitsBefore.millis) / groups).toFixed(1)) : null
    }
  })

export const runHttpBench = (options: HttpBenchSettings) =>
  Effect.gen(function*() {
    const database = yield* freshDatabase("http")
    const { prefix } = yield* runPrefix("http")
    const auth = yield* benchAuth("http")
    const [servicePort, opsPort, floorPort] = [yield* freeLocalPort, yield* freeLocalPort, yield* freeLocalPort]
    const service = yield* startBuiltCli(
      ["serve"],
      {
        DATABASE_URL: database.url,
        PORT: String(servicePort),
        OPS_PORT: String(opsPort),
        MESSAGING_PREFIX: prefix,
        LOG_LEVEL: "WARN",
        ...auth.env
      },
      options.profileDirectory === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${options.profileDirectory}`]
    )
    const floor = yield* startScript("bench/http/floorServer.ts", [
      String(floorPort),
      database.url,
      String(settings.database.maxConnections)
    ])
    const serviceUrl = `http://127.0.0.1:${servicePort}`
    const opsUrl = `http://127.0.0.1:${opsPort}`
    const floorUrl = `http://127.0.0.1:${floorPort}`
    yield* waitReady(`${serviceUrl}/ready`, 60_000, service)
    yield* floor.waitForLine(/^listening/, 30_000)

    const orders = yield* withProgress("placing the orders", options.orders, options.quiet, () => placeOrders(serviceUrl, auth, options.orders))
    const targets: Omit<Targets, "hot"> = { customer: auth.customerId, orders }

    const runs = options.workloads.flatMap((workload) => {
      const floorRun = floorOf(workload)
      return [
        { workload, target: "service" as Target, floor: floorRun?.name ?? "", url: serviceUrl, as: workload, pid: service.pid },
        ...(floorRun === undefined ? [] : [{
          workload,
          target: "floor" as Target,
          floor: floorRun.name,
          url: floorRun.target === "service" ? serviceUrl : floorUrl,
          as: floorRun.workload,
          pid: floorRun.target === "service" ? service.pid : floor.pid
        }])
      ]
    })
    const rows: Array<HttpRow> = []
    yield* withProgress("HTTP workloads", runs.length, options.quiet, (progress) =>
      Effect.forEach(runs, (run, i) =>
        Effect.gen(function*() {
          progress.update(i, { unit: "runs", detail: `${run.workload} → ${run.target}` })
          // Each run has a hot order of its own: a run that stops mid-cycle leaves its connections'
          // items on it, and an order takes only so many lines.
          const spec = (hot: string) => ({
            url: run.url,
            workload: run.as,
            targets: { ...targets, hot },
            authorization: auth.headers.authorization,
            connections: options.connections
          })
          yield* settle(service.pid)
          if (options.warmupSeconds > 0) {
            yield* load({ ...spec((yield* placeOrders(serviceUrl, auth, 1))[0]!), seconds: options.warmupSeconds }, run.pid, opsUrl)
          }
          const measured = yield* load({ ...spec((yield* placeOrders(serviceUrl, auth, 1))[0]!), seconds: options.seconds }, run.pid, opsUrl)
          rows.push({
            workload: run.workload,
            target: run.target,
            floor: run.floor,
            ...measured.outcome,
            serverCpuShare: measured.serverCpuShare,
            serverRssMiB: measured.serverRssMiB,
            appendsPerGroup: run.target === "service" ? measured.appendsPerGroup : null,
            groupCommitMs: run.target === "service" ? measured.groupCommitMs : null
          })
          progress.update(i + 1, { unit: "runs", detail: `${run.workload} → ${run.target}: ${measured.outcome.perSecond}/s` })
        }), { discard: true }))
    // A profile is written when the process exits of itself: stop it as an operator would.
    if (options.profileDirectory !== undefined) yield* Effect.zipRight(service.kill("SIGTERM"), service.exited)
    return rows
  }).pipe(Effect.scoped)

const describe: Record<Workload, string> = {
  place: "place orders (POST /orders)",
  spread: "commands over the orders",
  hot: "commands on one hot order",
  get: "GET a cached order",
  health: "GET /health",
  mix: "80% reads, 20% commands"
}

/** Requests not answered 2xx: errors and timeouts, and every other status. */
export const failures = (outcome: LoadOutcome) => outcome.errors + Object.values(outcome.non2xx).reduce((n, count) => n + count, 0)

export const httpMarkdown = (options: HttpBenchSettings, rows: ReadonlyArray<HttpRow>) => {
  const service = rows.filter((row) => row.target === "service")
  const floorFor = (row: HttpRow) => rows.find((r) => r.workload === row.workload && r.target === "floor")
  return [
    `### HTTP: ${options.connections} connections, ${options.seconds} s per run (after ${options.warmupSeconds} s warm-up), ${options.orders} orders`,
    "",
    markdownTable(
      ["workload", "req/s", "p50 / p99 / p99.9 ms", "failed", "server CPU", "appends per group commit", "group commit ms", "floor", "floor req/s", "floor p50 / p99 / p99.9 ms", "÷ floor"],
      service.map((row) => {
        const floorRow = floorFor(row)
        return [
          describe[row.workload].replace("the orders", `${options.orders} orders`),
          row.perSecond,
          `${row.p50Ms} / ${row.p99Ms} / ${row.p999Ms}`,
          failures(row),
          `${Math.round(row.serverCpuShare * 100)}%`,
          row.appendsPerGroup ?? "—",
          row.groupCommitMs ?? "—",
          row.floor || "—",
          floorRow?.perSecond ?? "—",
          floorRow === undefined ? "—" : `${floorRow.p50Ms} / ${floorRow.p99Ms} / ${floorRow.p999Ms}`,
          floorRow === undefined ? "—" : ratio(row.perSecond, floorRow.perSecond)
        ]
      })
    ),
    "",
    `Latencies are HdrHistogram percentiles of answered 2xx requests at whole-millisecond resolution; "failed" counts errors, ` +
    `timeouts and non-2xx answers; "server CPU" is the serving process's CPU time over the run (100% = one core of ` +
    `${cpus().length}); the group commits are the service's, means over the run (from its /metrics). The service's memory after the runs: ${Math.max(...rows.map((r) => r.serverRssMiB))} MiB RSS.`
  ].join("\n")
}

const main = Effect.gen(function*() {
  const { values } = parseArgs({
    options: {
      seconds: { type: "string", default: "10" },
      warmup: { type: "string", default: "3" },
      connections: { type: "string", default: "64" },
      orders: { type: "string", default: "1000" },
      workloads: { type: "string", default: workloads.filter((w) => w !== "health").join(",") },
      profile: { type: "boolean", default: false }
    }
  })
  const options: HttpBenchSettings = {
    seconds: Number(values.seconds),
    warmupSeconds: Number(values.warmup),
    connections: Number(values.connections),
    orders: Number(values.orders),
    workloads: values.workloads.split(",") as Array<Workload>,
    quiet: false
  }
  if (!values.profile) {
    const rows = yield* runHttpBench(options)
    return yield* Effect.sync(() => writeAndPrint("http", { settings: { ...options }, rows, markdown: httpMarkdown(options, rows) }))
  }
  // Profiling: the figures are not results (the profiler slows the service); the profile is.
  const directory = mkdtempSync(path.join(tmpdir(), "bench-http-profile-"))
  const rows = yield* runHttpBench({ ...options, profileDirectory: directory })
  const file = path.join(directory, readdirSync(directory).find((name) => name.endsWith(".cpuprofile"))!)
  const title = `CPU profile of serve under ${options.workloads.join(", ")}`
  const markdown = [httpMarkdown(options, rows), "", profileMarkdown(title, summarize(file))].join("\n")
  const written = path.join(resultsDirectory, "profiles", `${options.workloads.join("-")}.md`)
  mkdirSync(path.dirname(written), { recursive: true })
  writeFileSync(written, markdown + "\n")
  console.log(`\n${markdown}\n\nwritten: ${written}; the profile itself (open it in Chrome's DevTools): ${file}`)
})

if (import.meta.url === `file://${process.argv[1]}`) runMain(main)
