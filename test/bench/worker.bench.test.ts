/** The worker benchmark at a tiny size, so it keeps working; its figures are not asserted here. */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runWorkerBench, workerMarkdown, workerRows } from "../../bench/worker.js"

it.live("bench-worker runs end to end and reports every row", () =>
  Effect.gen(function*() {
    const options = { tasks: 200, rate: 40, seconds: 1, warmupSeconds: 0, quiet: true }
    const result = yield* runWorkerBench(options)
    expect(result.worker.tasks).toBe(200)
    expect(result.floor.tasks).toBe(200)
    expect(result.latency.samples).toBeGreaterThan(0)
    expect(workerRows(result).map((row) => row.mode)).toEqual(["worker", "floor", "command-to-push"])
    expect(workerMarkdown(options, result)).toContain("| command sent → push received |")
  }), 180_000)
