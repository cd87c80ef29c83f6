/** The replay benchmark at a tiny size, so it keeps working; its figures are not asserted here. */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { replayChart, replayMarkdown, runReplayBench } from "../../bench/replay.js"

it.live("bench-replay runs end to end and reports every row, with its chart", () =>
  Effect.gen(function*() {
    const options = { sizes: [60, 120], loads: 2, warmup: 1, snapshotEvery: 50, quiet: true }
    const rows = yield* runReplayBench(options)
    expect(rows.map((row) => `${row.events}/${row.mode}/${row.loads}`)).toEqual([
      "60/full/2",
      "60/snapshot/2",
      "60/floor/2",
      "120/full/2",
      "120/snapshot/2",
      "120/floor/2"
    ])
    expect(replayMarkdown(options, rows)).toContain("| 120 |")
    expect(replayChart(options, rows)).toMatch(/^<svg[\s\S]*<path d="M[\s\S]*<\/svg>\n$/)
  }), 120_000)
