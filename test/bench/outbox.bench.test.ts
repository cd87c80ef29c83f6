/** The outbox benchmark at a tiny size, so it keeps working; its figures are not asserted here. */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { LIFE_LENGTH, NOTIFIED } from "../../bench/lib/load.js"
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
    // The backlog is whole order lives: 300 events round up to lives of LIFE_LENGTH, NOTIFIED of them notifications each.
    const lives = Math.ceil(300 / LIFE_LENGTH)
    const [events, notifications] = [lives * LIFE_LENGTH, lives * NOTIFIED.size]
    expect(result.drainRows.map((row) => row.messages)).toEqual([events, events, notifications, notifications])
    expect(outboxMarkdown(options, result)).toContain("| Kafka ack (acks=all) |")
  }), 120_000)
