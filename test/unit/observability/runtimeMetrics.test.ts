/** The process's own figures, as a scrape shows them: types, units and plausible values. */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { metricsText } from "../../../src/observability/prometheus.js"
import { collectRuntimeMetrics } from "../../../src/observability/runtimeMetrics.js"

const scrape = () => Effect.runPromise(Effect.zipRight(collectRuntimeMetrics, metricsText))
const valueOf = (text: string, series: string) => {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe("runtime metrics", () => {
  it("reports CPU as a counter since the process started, memory in bytes, the event loop over the time since the last scrape", async () => {
    await scrape()
    // The delay monitor samples from its second tick on.
    await new Promise((resolve) => setTimeout(resolve, 50))
    // Then an event-loop stall of about 150 ms.
    const until = Date.now() + 150
    while (Date.now() < until) { /* the stall */ }
    await new Promise((resolve) => setTimeout(resolve, 50))
    const text = await scrape()

    expect(text).toContain("# TYPE process_cpu_seconds_total counter")
    expect(valueOf(text, "process_cpu_seconds_total")).toBeGreaterThanOrEqual(process.cpuUsage().user / 1e6 * 0.5)
    const started = valueOf(text, "process_start_time_seconds")!
    expect(Math.abs(started - (Date.now() / 1000 - process.uptime()))).toBeLessThan(5)
    expect(valueOf(text, "process_resident_memory_bytes")).toBeGreaterThan(10 * 1024 * 1024)
    expect(valueOf(text, "nodejs_heap_used_bytes")).toBeLessThanOrEqual(valueOf(text, "nodejs_heap_total_bytes")!)
    // The stall shows in the maximum delay since the previous scrape, in seconds.
    expect(valueOf(text, "nodejs_eventloop_lag_max_seconds")).toBeGreaterThan(0.1)
    expect(valueOf(text, "nodejs_eventloop_lag_max_seconds")).toBeLessThan(10)
    const utilization = valueOf(text, "nodejs_eventloop_utilization_ratio")!
    expect(utilization).toBeGreaterThan(0.3)
    expect(utilization).toBeLessThanOrEqual(1)

    // Taken afresh at each scrape: an idle interval after the stall shows neither.
    await new Promise((resolve) => setTimeout(resolve, 200))
    const idle = await scrape()
    expect(valueOf(idle, "nodejs_eventloop_lag_max_seconds")).toBeLessThan(valueOf(text, "nodejs_eventloop_lag_max_seconds")!)
    expect(valueOf(idle, "nodejs_eventloop_utilization_ratio")).toBeLessThan(utilization)
  })
})
