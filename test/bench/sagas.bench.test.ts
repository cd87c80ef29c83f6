/** The saga benchmark at a tiny size, so it keeps working; its figures are not asserted here. */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { type RateRow, runSagasBench, sagasResult, writeSagasChart } from "../../bench/sagas.js"
import { writeResults } from "../../bench/lib/report.js"

it.live("bench-sagas drives the saga at a low rate and its floor, every request accepted and every order paid", () =>
  Effect.gen(function*() {
    const settings = { rates: [4], seconds: 2, warmupSeconds: 0, drainSeconds: 60, clients: 4, skus: 2, quiet: true }
    const rows = yield* runSagasBench(settings)
    expect(rows.map((row) => row.kind)).toEqual(["floor", "saga"])
    const [floor, saga] = rows as [typeof rows[0], RateRow]
    expect(floor.kind === "floor" && floor.ordersPerSecond).toBeGreaterThan(0)
    expect(floor.failedRequests).toBe(0)
    expect(saga).toMatchObject({ offeredPerSecond: 4, accepted: 8, unpaid: 0, failedRequests: 0 })
    // Every order of the window was paid, and its confirm → paid read from the store's events.
    expect(saga.samples).toBe(8)
    expect(saga.p50Ms).toBeGreaterThan(0)

    const directory = mkdtempSync(path.join(tmpdir(), "bench-sagas-test-"))
    try {
      const written = writeResults("sagas", sagasResult(settings, rows), directory)
      writeSagasChart(rows, directory)
      expect(written.history).toBeNull()
      expect(JSON.parse(readFileSync(written.json, "utf8")).rows).toHaveLength(2)
      expect(readFileSync(written.md, "utf8")).toContain("| floor: no saga, closed loop |")
      expect(readFileSync(path.join(directory, "sagas.svg"), "utf8")).toMatch(/^<svg[\s\S]*<\/svg>\n$/)
      expect(existsSync(path.join(directory, "history.jsonl"))).toBe(false)
    } finally {
      rmSync(directory, { recursive: true, force: true })
    }
  }), 240_000)
