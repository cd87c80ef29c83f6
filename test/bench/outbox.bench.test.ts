/** The outbox benchmark at a tiny size, so it keeps working; its figures are not asserted here. */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { outboxMarkdown, runOutboxBench } from "../../bench/outbox.js"

it.live("bench-outbox runs end to end and reports every row", () =>
  Effect.gen(function*() {
    const options = { rate: 50, seconds: 1, warmupSeconds: 0, backlog: 300, batchSize: 100, quiet: true }
    const result = yield* runOutboxBench(options)
    expect(result.latencyRows.map((row) => `${row.destination}/${row.mode}`)).toEqual([
      "kafka/relay",
      "kafka/floor",
      "rabbitmq/relay",
      "rabbitmq/floor"
    ])
    for (const row of result.latencyRows) expect(row.samples).toBeGreaterThan(0)
    expect(result.drainRows.map((row) => row.messages)).toEqual([300, 300, 200, 200])
    expect(outboxMarkdown(options, result)).toContain("| Kafka ack (acks=all) |")
  }), 120_000)
