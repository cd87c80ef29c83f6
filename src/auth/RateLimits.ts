/**
 * The rate limits of the API: one token bucket per principal, and one per caller address for
 * requests that carry no valid token (public endpoints, and failed authentication, so that tokens
 * cannot be guessed at speed). In memory, per process.
 */
import { Context, Data, Effect, Layer, Metric } from "effect"
import { AppConfig } from "../config.js"
import { keyedLimiter, type RateLimit } from "./rateLimit.js"

export class RateLimited extends Data.TaggedError("RateLimited")<{
  readonly retryAfterSeconds: number
  readonly bucket: "principal" | "address"
}> {}

export interface RateLimitsShape {
  readonly principal: (subject: string) => Effect.Effect<void, RateLimited>
  readonly address: (address: string) => Effect.Effect<void, RateLimited>
}

export class RateLimits extends Context.Tag("auth/RateLimits")<RateLimits, RateLimitsShape>() {}

export const rateLimited = Metric.counter("http_requests_rate_limited_total", {
  description: "Requests refused with 429, by bucket (principal, or address for requests without a valid token)",
  incremental: true
})

/** Buckets kept per kind: past it, the least recently seen caller's bucket is forgotten (as full). */
const MAX_BUCKETS = 100_000

const limiter = (bucket: RateLimited["bucket"], limit: RateLimit) => {
  const buckets = keyedLimiter(limit, MAX_BUCKETS)
  const refused = Metric.tagged(rateLimited, "bucket", bucket)
  return (key: string) =>
    Effect.clockWith((clock) => {
      const waitMillis = buckets.take(key, clock.unsafeCurrentTimeMillis())
      if (waitMillis === 0) return Effect.void
      return Metric.increment(refused).pipe(
        Effect.zipRight(Effect.fail(new RateLimited({ retryAfterSeconds: Math.max(1, Math.ceil(waitMillis / 1000)), bucket })))
      )
    })
}

export const make = (limits: { readonly principal: RateLimit; readonly anonymous: RateLimit }): RateLimitsShape => ({
  principal: limiter("principal", limits.principal),
  address: limiter("address", limits.anonymous)
})

export const layer = Layer.effect(RateLimits, Effect.map(AppConfig, (config) => make(config.rateLimits)))
