/**
 * Token buckets, one per key (a principal, or an address): each holds up to `burst` tokens, refills
 * at `perSecond`, and a request takes one or waits. The bucket arithmetic is pure; the keyed store
 * keeps the buckets of the most recently seen keys only, so that callers who invent keys (addresses)
 * cannot grow it without bound: a forgotten bucket is a full one, which errs toward the caller.
 */

export interface RateLimit {
  /** Tokens added per second. */
  readonly perSecond: number
  /** The bucket's size: how many requests may come at once after a quiet spell. */
  readonly burst: number
}

export interface Bucket {
  readonly tokens: number
  readonly atMillis: number
}

export type Taken =
  | { readonly _tag: "Taken"; readonly bucket: Bucket }
  /** Refused; the bucket holds its first next token after `retryAfterMillis`. */
  | { readonly _tag: "Refused"; readonly bucket: Bucket; readonly retryAfterMillis: number }

/** Takes one token from the bucket (a full one when there is none yet), refilled up to now. */
export const take = (limit: RateLimit, bucket: Bucket | undefined, nowMillis: number): Taken => {
  const elapsed = bucket === undefined ? 0 : Math.max(0, nowMillis - bucket.atMillis)
  const tokens = bucket === undefined ? limit.burst : Math.min(limit.burst, bucket.tokens + (elapsed * limit.perSecond) / 1000)
  if (tokens >= 1) return { _tag: "Taken", bucket: { tokens: tokens - 1, atMillis: nowMillis } }
  return {
    _tag: "Refused",
    bucket: { tokens, atMillis: nowMillis },
    retryAfterMillis: Math.ceil(((1 - tokens) * 1000) / limit.perSecond)
  }
}

export interface KeyedLimiter {
  /** 0 when the request may go; otherwise the milliseconds until it may. */
  readonly take: (key: string, nowMillis: number) => number
}

export const keyedLimiter = (limit: RateLimit, maxKeys: number): KeyedLimiter => {
  // A Map iterates in insertion order: re-inserting on every use keeps the least recently used first.
  const buckets = new Map<string, Bucket>()
  return {
    take: (key, nowMillis) => {
      const taken = take(limit, buckets.get(key), nowMillis)
      buckets.delete(key)
      buckets.set(key, taken.bucket)
      if (buckets.size > maxKeys) buckets.delete(buckets.keys().next().value!)
      return taken._tag === "Taken" ? 0 : taken.retryAfterMillis
    }
  }
}
