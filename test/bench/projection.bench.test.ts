/** The projection benchmark at a tiny size, so it keeps working; its figures are not asserted here. */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { projectionMarkdown, projectionRows, runProjectionBench } from "../../bench/projection.js"

it.live("bench-projection runs end to end and reports every row", () =>
  Effect.gen(function*() {
    const options = { rate: 60, seconds: 1, warmupSeconds: 0, events: 500, streamLength: 25, quiet: true }
    const result = yield* runProjectionBench(options)
    expect(result.lag.samples).toBeGreaterThan(0)
    expect(result.rebuild.events).toBe(500)
    expect(projectionRows(result).map((row) => row.kind)).toEqual(["lag", "rebuild", "rebuild"])
    expect(projectionMarkdown(options, result)).toContain("| order_summaries |")
  }), 180_000)
