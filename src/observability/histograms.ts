/**
 * Durations are exported in seconds, Prometheus's base unit, and measured in milliseconds where they
 * happen (clocks and timestamps give milliseconds): a duration histogram takes milliseconds and
 * records seconds, so no caller converts.
 */
import { Metric, MetricBoundaries } from "effect"

/**
 * A histogram of durations in seconds, fed milliseconds. Buckets double from `fromMillis`, `count`
 * of them (then +Inf).
 */
export const durationHistogram = (
  name: string,
  description: string,
  buckets: { readonly fromMillis: number; readonly count: number }
) =>
  Metric.histogram(
    name,
    MetricBoundaries.exponential({ start: buckets.fromMillis / 1000, factor: 2, count: buckets.count }),
    description
  ).pipe(Metric.mapInput((millis: number) => millis / 1000))
