/** The cached-actors benchmark at a tiny size, so it keeps working; its figures are not asserted here. */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { actorsMarkdown, runActorsBench } from "../../bench/actors.js"

it.live("bench-actors caches every order and reads the process's memory at each size", () =>
  Effect.gen(function*() {
    const result = yield* runActorsBench({ sizes: [50, 20], settleSeconds: 0, quiet: true })
    expect(result.rows.map((row) => row.cached)).toEqual([20, 50])
    expect(result.idle.rssMiB).toBeGreaterThan(0)
    for (const row of result.rows) expect(row.rssMiB).toBeGreaterThan(0)
    expect(actorsMarkdown(result)).toContain("| 0 (idle) |")
  }), 120_000)
