/**
 * Prometheus text exposition format (version 0.0.4) for Effect's global metric registry.
 *
 * `renderPrometheus` is a pure function from a `Metric.snapshot` to the scrape body;
 * `metricsText` takes the snapshot and renders it. Serve it with `contentType`.
 *
 * Mapping: incremental counters and frequencies -> counter (a frequency gets one series per
 * observed value, labelled `key`); gauges and non-incremental counters (they can go down) ->
 * gauge; histograms -> cumulative `_bucket{le}` incl. `+Inf`, `_sum`, `_count`; summaries ->
 * `{quantile}` lines (NaN while the window is empty), `_sum`, `_count`. Tags become labels.
 * Pairs with the same name (one per tag set) are grouped under one HELP/TYPE header.
 * Output is sorted by metric name, then by label set, so it is stable between scrapes.
 */
import { Effect, Metric, MetricKeyType, MetricState, Option } from "effect"
import type { MetricPair } from "effect"

export const contentType = "text/plain; version=0.0.4; charset=utf-8"

type Label = readonly [name: string, value: string]
type PrometheusType = "counter" | "gauge" | "histogram" | "summary"

/** One labelled series; its lines keep their natural order (buckets, then `_sum`, `_count`). */
interface Series {
  readonly labelKey: string
  readonly lines: ReadonlyArray<string>
}

interface Family {
  readonly type: PrometheusType
  help: string | undefined
  readonly series: Array<Series>
}

const sanitizeMetricName = (name: string): string =>
  name.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/^(?=[0-9]|$)/, "_")

const sanitizeLabelName = (name: string): string =>
  name.replace(/[^a-zA-Z0-9_]/g, "_").replace(/^(?=[0-9]|$)/, "_")

const escapeHelp = (text: string): string => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

const escapeLabelValue = (value: string): string => escapeHelp(value).replace(/"/g, "\\\"")

/** Integers without decimals, `+Inf` / `-Inf` / `NaN` as Prometheus spells them, bigints exact. */
const formatValue = (value: number | bigint): string => {
  if (typeof value === "bigint") return value.toString()
  if (Number.isNaN(value)) return "NaN"
  if (value === Infinity) return "+Inf"
  if (value === -Infinity) return "-Inf"
  return String(value)
}

const renderLabels = (labels: ReadonlyArray<Label>): string =>
  labels.length === 0 ? "" : `{${labels.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(",")}}`

const sample = (name: string, labels: ReadonlyArray<Label>, value: number | bigint): string =>
  `${name}${renderLabels(labels)} ${formatValue(value)}`

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

const seriesOf = (
  name: string,
  tags: ReadonlyArray<Label>,
  pair: MetricPair.MetricPair.Untyped
): { readonly type: PrometheusType; readonly series: ReadonlyArray<Series> } | undefined => {
  const state = pair.metricState
  const single = (lines: ReadonlyArray<string>): ReadonlyArray<Series> => [{ labelKey: renderLabels(tags), lines }]
  if (MetricState.isCounterState(state)) {
    const keyType = pair.metricKey.keyType
    const incremental = MetricKeyType.isCounterKey(keyType) && keyType.incremental
    return { type: incremental ? "counter" : "gauge", series: single([sample(name, tags, state.count)]) }
  }
  if (MetricState.isGaugeState(state)) {
    return { type: "gauge", series: single([sample(name, tags, state.value)]) }
  }
  if (MetricState.isFrequencyState(state)) {
    const series = Array.from(state.occurrences, ([word, count]): Series => {
      const labels: ReadonlyArray<Label> = [...tags.filter(([label]) => label !== "key"), ["key", word]]
      return { labelKey: renderLabels(labels), lines: [sample(name, labels, count)] }
    })
    return { type: "counter", series }
  }
  if (MetricState.isHistogramState(state)) {
    const bucket = (le: string, count: number) => sample(`${name}_bucket`, [...tags, ["le", le]], count)
    const finite = state.buckets.filter(([le]) => le !== Infinity).map(([le, count]) => bucket(formatValue(le), count))
    return {
      type: "histogram",
      series: single([
        ...finite,
        bucket("+Inf", state.count),
        sample(`${name}_sum`, tags, state.sum),
        sample(`${name}_count`, tags, state.count)
      ])
    }
  }
  if (MetricState.isSummaryState(state)) {
    const quantiles = state.quantiles.map(([quantile, value]) =>
      sample(name, [...tags, ["quantile", formatValue(quantile)]], Option.getOrElse(value, () => NaN))
    )
    return {
      type: "summary",
      series: single([...quantiles, sample(`${name}_sum`, tags, state.sum), sample(`${name}_count`, tags, state.count)])
    }
  }
  return undefined
}

export const renderPrometheus = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, Family>()
  for (const pair of pairs) {
    const name = sanitizeMetricName(pair.metricKey.name)
    const tags = pair.metricKey.tags
      .map((tag): Label => [sanitizeLabelName(tag.key), tag.value])
      .sort(([a], [b]) => compareStrings(a, b))
    const described = seriesOf(name, tags, pair)
    if (described === undefined) continue
    const family = families.get(name) ?? { type: described.type, help: undefined, series: [] }
    family.help ??= Option.getOrUndefined(pair.metricKey.description)
    family.series.push(...described.series)
    families.set(name, family)
  }
  const lines: Array<string> = []
  for (const name of [...families.keys()].sort(compareStrings)) {
    const family = families.get(name)!
    if (family.help !== undefined) lines.push(`# HELP ${name} ${escapeHelp(family.help)}`)
    lines.push(`# TYPE ${name} ${family.type}`)
    for (const series of family.series.sort((a, b) => compareStrings(a.labelKey, b.labelKey))) {
      lines.push(...series.lines)
    }
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`
}

/** Figures read only when scraped (a pool's connections, say), registered by what owns them. */
const onScrape = new Set<Effect.Effect<void>>()

/** Reads `sample` at every scrape until the returned function is called. */
export const sampleOnScrape = (sample: Effect.Effect<void>): () => void => {
  onScrape.add(sample)
  return () => void onScrape.delete(sample)
}

export const metricsText: Effect.Effect<string> = Effect.suspend(() =>
  Effect.all(Array.from(onScrape), { discard: true })
).pipe(Effect.zipRight(Effect.map(Metric.snapshot, renderPrometheus)))
