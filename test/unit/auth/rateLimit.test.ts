/** Token buckets: a burst, then the rate; refusals say how long to wait; forgotten buckets are full. */
import { describe, expect, it } from "vitest"
import { FastCheck as fc } from "effect"
import { type Bucket, keyedLimiter, take } from "../../../src/auth/rateLimit.js"

const limit = { perSecond: 2, burst: 3 }

describe("token buckets", () => {
  it("a new caller has the whole burst, then waits for the next token", () => {
    let bucket: Bucket | undefined
    const outcomes: Array<string> = []
    for (let i = 0; i < 4; i++) {
      const taken = take(limit, bucket, 1_000)
      bucket = taken.bucket
      outcomes.push(taken._tag === "Taken" ? "taken" : `wait ${taken.retryAfterMillis} ms`)
    }
    expect(outcomes).toEqual(["taken", "taken", "taken", "wait 500 ms"])
    expect(take(limit, bucket, 1_499)._tag).toBe("Refused")
    expect(take(limit, bucket, 1_500)._tag).toBe("Taken")
  })

  it("a quiet spell refills the bucket up to the burst, never beyond", () => {
    const empty: Bucket = { tokens: 0, atMillis: 0 }
    expect(take(limit, empty, 60_000).bucket.tokens).toBe(limit.burst - 1)
  })

  it("a clock that steps back takes nothing extra", () => {
    const bucket: Bucket = { tokens: 0.5, atMillis: 10_000 }
    expect(take(limit, bucket, 5_000)).toMatchObject({ _tag: "Refused", retryAfterMillis: 250 })
  })

  it("property: over any window, requests taken are at most the burst plus the rate times the window", () => {
    fc.assert(
      fc.property(
        fc.record({ perSecond: fc.integer({ min: 1, max: 50 }), burst: fc.integer({ min: 1, max: 50 }) }),
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 300 }),
        (rate, gaps) => {
          let bucket: Bucket | undefined
          let now = 0
          const takenAt: Array<number> = []
          for (const gap of gaps) {
            now += gap
            const taken = take(rate, bucket, now)
            bucket = taken.bucket
            if (taken._tag === "Taken") takenAt.push(now)
            else expect(taken.retryAfterMillis).toBeGreaterThan(0)
          }
          for (let i = 0; i < takenAt.length; i++) {
            for (let j = i; j < takenAt.length; j++) {
              const window = (takenAt[j]! - takenAt[i]!) / 1000
              expect(j - i + 1).toBeLessThanOrEqual(rate.burst + rate.perSecond * window + 1e-9)
            }
          }
        }
      ),
      { numRuns: 300 }
    )
  })

  it("keeps the most recently seen callers' buckets, and forgets the oldest beyond its size", () => {
    const limiter = keyedLimiter({ perSecond: 1, burst: 1 }, 2)
    expect(limiter.take("a", 0)).toBe(0)
    expect(limiter.take("a", 0)).toBe(1_000)
    limiter.take("b", 0)
    limiter.take("c", 0)
    // "a" was forgotten: its bucket is full again.
    expect(limiter.take("a", 0)).toBe(0)
    // "c" was kept.
    expect(limiter.take("c", 0)).toBe(1_000)
  })
})
