import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric, MetricBoundaries } from "effect"
import { contentType, metricsText, renderPrometheus } from "../../../src/observability/prometheus.js"

// The metric registry is global: every test uses its own names and renders only those.
const unique = (base: string) => `${base}_${Math.random().toString(36).slice(2, 10)}`

const renderOnly = (...names: ReadonlyArray<string>) =>
  Effect.map(Metric.snapshot, (pairs) => renderPrometheus(pairs.filter((pair) => names.includes(pair.metricKey.name))))

describe("renderPrometheus", () => {
  it.effect("renders an incremental counter with tags as a counter, one HELP and TYPE for all tag sets", () =>
    Effect.gen(function*() {
      const name = unique("commands_total")
      const commands = Metric.counter(name, { description: "Commands handled", incremental: true })
      yield* Metric.incrementBy(Metric.tagged(Metric.tagged(commands, "kind", "place"), "actor", "order"), 3)
      yield* Metric.increment(Metric.tagged(commands, "kind", "cancel"))
      yield* Metric.increment(commands)
      expect(yield* renderOnly(name)).toBe(
        [
          `# HELP ${name} Commands handled`,
          `# TYPE ${name} counter`,
          `${name} 1`,
          `${name}{actor="order",kind="place"} 3`,
          `${name}{kind="cancel"} 1`,
          ""
        ].join("\n")
      )
    }))

  it.effect("keeps a counter name without _total as is, renders bigint counters, and a non-incremental counter as gauge", () =>
    Effect.gen(function*() {
      const big = unique("bytes_sent")
      const updown = unique("in_flight")
      yield* Metric.incrementBy(Metric.counter(big, { bigint: true, incremental: true }), 9007199254740993n)
      yield* Metric.incrementBy(Metric.counter(updown), 2)
      expect(yield* renderOnly(big, updown)).toBe(
        [`# TYPE ${big} counter`, `${big} 9007199254740993`, `# TYPE ${updown} gauge`, `${updown} 2`, ""].join("\n")
      )
    }))

  it.effect("renders gauges with integers, decimals and the Prometheus spellings of infinities and NaN", () =>
    Effect.gen(function*() {
      const name = unique("queue_depth")
      const gauge = Metric.gauge(name)
      yield* Metric.set(Metric.tagged(gauge, "q", "a"), 42)
      yield* Metric.set(Metric.tagged(gauge, "q", "b"), 0.25)
      yield* Metric.set(Metric.tagged(gauge, "q", "c"), Infinity)
      yield* Metric.set(Metric.tagged(gauge, "q", "d"), -Infinity)
      yield* Metric.set(Metric.tagged(gauge, "q", "e"), NaN)
      expect(yield* renderOnly(name)).toBe(
        [
          `# TYPE ${name} gauge`,
          `${name}{q="a"} 42`,
          `${name}{q="b"} 0.25`,
          `${name}{q="c"} +Inf`,
          `${name}{q="d"} -Inf`,
          `${name}{q="e"} NaN`,
          ""
        ].join("\n")
      )
    }))

  it.effect("renders a histogram with cumulative buckets, +Inf, sum and count", () =>
    Effect.gen(function*() {
      const name = unique("latency_ms")
      const histogram = Metric.histogram(name, MetricBoundaries.fromIterable([1, 2.5, 10]), "Command latency")
      for (const value of [0.5, 2, 2, 7, 100]) yield* Metric.update(Metric.tagged(histogram, "route", "/a"), value)
      expect(yield* renderOnly(name)).toBe(
        [
          `# HELP ${name} Command latency`,
          `# TYPE ${name} histogram`,
          `${name}_bucket{route="/a",le="1"} 1`,
          `${name}_bucket{route="/a",le="2.5"} 3`,
          `${name}_bucket{route="/a",le="10"} 4`,
          `${name}_bucket{route="/a",le="+Inf"} 5`,
          `${name}_sum{route="/a"} 111.5`,
          `${name}_count{route="/a"} 5`,
          ""
        ].join("\n")
      )
    }))

  it.effect("renders a summary with quantile lines, sum and count", () =>
    Effect.gen(function*() {
      const name = unique("payload_bytes")
      const summary = Metric.summary({ name, maxAge: "1 hour", maxSize: 100, error: 0.01, quantiles: [0.5, 0.9] })
      for (let value = 1; value <= 10; value++) yield* Metric.update(summary, value)
      expect(yield* renderOnly(name)).toBe(
        [
          `# TYPE ${name} summary`,
          `${name}{quantile="0.5"} 5`,
          `${name}{quantile="0.9"} 9`,
          `${name}_sum 55`,
          `${name}_count 10`,
          ""
        ].join("\n")
      )
    }))

  it.effect("renders a frequency as one counter series per observed value, labelled key", () =>
    Effect.gen(function*() {
      const name = unique("errors")
      const frequency = Metric.tagged(Metric.frequency(name), "service", "orders")
      for (const word of ["timeout", "conflict", "timeout"]) yield* Metric.update(frequency, word)
      expect(yield* renderOnly(name)).toBe(
        [
          `# TYPE ${name} counter`,
          `${name}{service="orders",key="conflict"} 1`,
          `${name}{service="orders",key="timeout"} 2`,
          ""
        ].join("\n")
      )
    }))

  it.effect("escapes label values and HELP text, and sanitizes metric and label names", () =>
    Effect.gen(function*() {
      const raw = unique("http.requests-total")
      const name = raw.replace(/[.-]/g, "_")
      const counter = Metric.counter(raw, { description: "Requests\\by \"path\"\nsecond line", incremental: true })
      yield* Metric.increment(Metric.tagged(counter, "http.path", "C:\\tmp \"x\"\ny"))
      expect(yield* renderOnly(raw)).toBe(
        [
          `# HELP ${name} Requests\\\\by "path"\\nsecond line`,
          `# TYPE ${name} counter`,
          `${name}{http_path="C:\\\\tmp \\"x\\"\\ny"} 1`,
          ""
        ].join("\n")
      )
    }))

  it.effect("sorts families by name whatever the registry order, and renders nothing for no metrics", () =>
    Effect.gen(function*() {
      const suffix = unique("")
      const [a, b] = [`aaa${suffix}`, `bbb${suffix}`]
      yield* Metric.set(Metric.gauge(b), 2)
      yield* Metric.set(Metric.gauge(a), 1)
      expect(yield* renderOnly(b, a)).toBe([`# TYPE ${a} gauge`, `${a} 1`, `# TYPE ${b} gauge`, `${b} 2`, ""].join("\n"))
      expect(renderPrometheus([])).toBe("")
    }))

  it.effect("metricsText renders the whole registry", () =>
    Effect.gen(function*() {
      const name = unique("scrapes_total")
      yield* Metric.increment(Metric.counter(name, { incremental: true }))
      expect(yield* metricsText).toContain(`# TYPE ${name} counter\n${name} 1\n`)
      expect(contentType).toBe("text/plain; version=0.0.4; charset=utf-8")
    }))
})
