/** Percentiles of latency samples (nearest rank) and rates. */

export interface Percentiles {
  readonly p50Ms: number
  readonly p95Ms: number
  readonly p99Ms: number
  readonly samples: number
}

const rank = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!

const round = (value: number, digits = 2) => Number(value.toFixed(digits))

export const percentiles = (samples: ReadonlyArray<number>): Percentiles => {
  if (samples.length === 0) return { p50Ms: NaN, p95Ms: NaN, p99Ms: NaN, samples: 0 }
  const sorted = [...samples].sort((a, b) => a - b)
  return {
    p50Ms: round(rank(sorted, 50), 3),
    p95Ms: round(rank(sorted, 95), 3),
    p99Ms: round(rank(sorted, 99), 3),
    samples: sorted.length
  }
}

export const ratio = (value: number, baseline: number) => round(value / baseline)

export const perSecond = (count: number, millis: number) => Math.round((count * 1000) / millis)
