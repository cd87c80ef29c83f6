/** The commands benchmark at a tiny size, so it keeps working; its figures are not asserted here. */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { commandsMarkdown, runCommandsBench } from "../../bench/commands.js"

it.live("bench-commands runs end to end and reports every row", () =>
  Effect.gen(function*() {
    const options = { commands: 120, clients: 8, aggregates: 20, quiet: true }
    const rows = yield* runCommandsBench(options)
    expect(rows.map((row) => `${row.scenario}/${row.mode}/${row.commands}`)).toEqual([
      "spread/runtime/120",
      "spread/http/120",
      "hot/runtime/120",
      "hot/http/120",
      "spread/baseline/120",
      "hot/baseline/120"
    ])
    expect(commandsMarkdown(options, rows)).toContain("| one hot order | runtime |")
  }), 120_000)
