/**
 * The external load generator: autocannon (latencies in an HdrHistogram) in a process of its own,
 * so that what it costs is not charged to the server it measures. Takes its run as JSON on the
 * command line and prints the outcome as one JSON line.
 *
 *   node --import tsx bench/http/loadGenerator.ts '{"url":…,"workload":"spread",…}'
 */
import autocannon from "autocannon"
import { type Cycle, cycleOf, type Request, type Targets, type Workload } from "./workloads.js"

export interface LoadRun {
  readonly url: string
  readonly workload: Workload
  readonly targets: Targets
  /** Sent as the Authorization header of every request. */
  readonly authorization: string
  readonly connections: number
  readonly seconds: number
}

export interface LoadOutcome {
  readonly requests: number
  readonly seconds: number
  readonly perSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  readonly maxMs: number
  /** Connection errors and timeouts, and answers other than 2xx, by status. */
  readonly errors: number
  readonly non2xx: Readonly<Record<string, number>>
  /** CPU the load generator itself used, as a share of one core. */
  readonly cpuShare: number
}

const run = async (spec: LoadRun): Promise<LoadOutcome> => {
  const { pick, steps } = cycleOf(spec.workload, spec.targets)
  let cycles = 0
  // autocannon builds each connection's first request as it starts, into the request template all
  // connections share, and sends them later: the last one built goes out on every connection. So the
  // cycles begun while starting only read their order (a few GETs per run), and the real ones follow.
  let starting = true
  const cpu = process.cpuUsage()
  const running = autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.seconds,
    pipelining: 1,
    // A connection goes round the steps; its context lives for one round.
    requests: steps.map((step, index) => ({
      setupRequest: (request: autocannon.Request, context: Partial<Cycle> & { starting?: boolean }) => {
        if (index === 0) {
          const n = cycles++
          context.order = pick(n)
          // With the process's id: an item that an earlier run added and never removed (it stopped
          // mid-cycle) must not meet an add of the same SKU.
          context.sku = `sku-${process.pid}-${n}`
          context.starting = starting
        }
        const next: Request = context.starting ? { method: "GET", path: `/orders/${context.order}` } : step(context as Cycle)
        return {
          ...request,
          method: next.method,
          path: next.path,
          headers: {
            authorization: spec.authorization,
            ...(next.body === undefined ? {} : { "content-type": "application/json" })
          },
          ...(next.body === undefined ? { body: undefined } : { body: next.body })
        } as autocannon.Request
      }
    }))
  })
  starting = false
  const result = await running
  const used = process.cpuUsage(cpu)
  const non2xx: Record<string, number> = {}
  for (const [status, { count }] of Object.entries(result.statusCodeStats as Record<string, { count: number | string }>)) {
    if (!status.startsWith("2")) non2xx[status] = Number(count)
  }
  const total = result.requests.total
  return {
    requests: total,
    seconds: result.duration,
    perSecond: Math.round(total / result.duration),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    p999Ms: result.latency.p99_9,
    maxMs: result.latency.max,
    errors: result.errors + result.timeouts,
    non2xx,
    cpuShare: Number(((used.user + used.system) / 1e6 / result.duration).toFixed(2))
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run(JSON.parse(process.argv[2]!) as LoadRun).then(
    (outcome) => console.log(JSON.stringify(outcome)),
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
}
