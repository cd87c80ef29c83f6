/**
 * The process's own figures, as every process reports them: CPU, memory, the event loop's delay and
 * utilisation, garbage collection. They belong to the process, not to a layer: collection starts
 * once, with the first ops server, and lasts as long as the process. The event loop's delay and
 * utilisation are taken over the time since the previous scrape, so a scraper sees every stall,
 * however short, in the maximum of the interval it covers.
 */
import { Effect, Metric, MetricBoundaries } from "effect"
import { constants, type EventLoopUtilization, monitorEventLoopDelay, PerformanceObserver, performance } from "node:perf_hooks"
import { sampleOnScrape } from "./prometheus.js"

const gauges = {
  startTime: Metric.gauge("process_start_time_seconds", { description: "When the process started, in seconds since the Unix epoch" }),
  resident: Metric.gauge("process_resident_memory_bytes", { description: "Resident memory of the process" }),
  heapUsed: Metric.gauge("nodejs_heap_used_bytes", { description: "V8 heap in use (live objects and garbage not yet collected)" }),
  heapTotal: Metric.gauge("nodejs_heap_total_bytes", { description: "V8 heap reserved" }),
  external: Metric.gauge("nodejs_external_memory_bytes", { description: "Memory held outside the V8 heap (buffers)" }),
  lagP50: Metric.gauge("nodejs_eventloop_lag_p50_seconds", { description: "Median event-loop delay since the last scrape" }),
  lagP99: Metric.gauge("nodejs_eventloop_lag_p99_seconds", { description: "99th percentile of the event-loop delay since the last scrape" }),
  lagMax: Metric.gauge("nodejs_eventloop_lag_max_seconds", {
    description: "Longest event-loop delay since the last scrape: how long a request could wait behind other work"
  }),
  utilization: Metric.gauge("nodejs_eventloop_utilization_ratio", {
    description: "Share of the time since the last scrape the event loop was busy (1: saturated; requests queue)"
  })
}

const cpuSeconds = Metric.counter("process_cpu_seconds_total", { description: "CPU time the process has used, user and system", incremental: true })

const gcDuration = Metric.histogram(
  "nodejs_gc_duration_seconds",
  MetricBoundaries.fromIterable([0.001, 0.01, 0.1, 1, 2, 5]),
  "Garbage collection pauses, by kind (minor, major, incremental, weakcb)"
)

const gcKinds = new Map<number, string>([
  [constants.NODE_PERFORMANCE_GC_MINOR, "minor"],
  [constants.NODE_PERFORMANCE_GC_MAJOR, "major"],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, "incremental"],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, "weakcb"]
])
const gcByKind = new Map(Array.from(gcKinds.values(), (kind) => [kind, Metric.tagged(gcDuration, "kind", kind)] as const))

const nanosToSeconds = (nanos: number) => nanos / 1e9

const start = () => {
  // Sampled every 10 ms: a stall shorter than that is not seen, and the sampling costs next to nothing.
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  let utilizationBefore: EventLoopUtilization = performance.eventLoopUtilization()
  // From zero: the counter is the CPU time since the process started.
  let cpuBefore: NodeJS.CpuUsage = { user: 0, system: 0 }
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as { readonly detail?: { readonly kind?: number } }).detail
      const kind = gcKinds.get(detail?.kind ?? -1) ?? "other"
      Effect.runSync(Metric.update(gcByKind.get(kind) ?? Metric.tagged(gcDuration, "kind", kind), entry.duration / 1000))
    }
  }).observe({ entryTypes: ["gc"] })

  sampleOnScrape(Effect.suspend(() => {
    const memory = process.memoryUsage()
    const cpu = process.cpuUsage()
    const cpuUsed = (cpu.user - cpuBefore.user + cpu.system - cpuBefore.system) / 1e6
    cpuBefore = cpu
    const utilization = performance.eventLoopUtilization(utilizationBefore)
    utilizationBefore = performance.eventLoopUtilization()
    const lag = delay.count === 0 ? undefined : { p50: delay.percentile(50), p99: delay.percentile(99), max: delay.max }
    delay.reset()
    return Effect.all([
      Metric.incrementBy(cpuSeconds, cpuUsed),
      Metric.set(gauges.resident, memory.rss),
      Metric.set(gauges.heapUsed, memory.heapUsed),
      Metric.set(gauges.heapTotal, memory.heapTotal),
      Metric.set(gauges.external, memory.external),
      Metric.set(gauges.utilization, utilization.utilization),
      ...(lag === undefined ? [] : [
        Metric.set(gauges.lagP50, nanosToSeconds(lag.p50)),
        Metric.set(gauges.lagP99, nanosToSeconds(lag.p99)),
        Metric.set(gauges.lagMax, nanosToSeconds(lag.max))
      ])
    ], { discard: true })
  }))
  // The wall clock, not Effect's: a start time in Unix seconds is what a scraper compares with its own.
  return Metric.set(gauges.startTime, (Date.now() - process.uptime() * 1000) / 1000)
}

let started = false

/** Starts collecting the process's figures (once per process; later calls do nothing). */
export const collectRuntimeMetrics: Effect.Effect<void> = Effect.suspend(() => {
  if (started) return Effect.void
  started = true
  return start()
})
