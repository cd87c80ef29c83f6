/** The HTTP benchmark (and its profile) at a tiny size, so they keep working; throughput is not asserted here. */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { httpMarkdown, runHttpBench } from "../../bench/http.js"
import { workloads } from "../../bench/http/workloads.js"
import { summarize } from "../../bench/lib/cpuProfile.js"

it.live("bench-http drives every workload at the service and its floor, every request answered 2xx, and profiles the service", () =>
  Effect.gen(function*() {
    const profileDirectory = mkdtempSync(path.join(tmpdir(), "bench-http-test-"))
    const options = { seconds: 1, warmupSeconds: 0, connections: 4, orders: 5, workloads, quiet: true, profileDirectory }
    const rows = yield* runHttpBench(options)
    expect(rows.map((row) => `${row.workload}/${row.target}`)).toEqual([
      "place/service",
      "place/floor",
      "spread/service",
      "spread/floor",
      "hot/service",
      "hot/floor",
      "get/service",
      "get/floor",
      "health/service",
      "mix/service",
      "mix/floor"
    ])
    // Every command of every cycle is one the order accepts, however the connections interleave.
    for (const row of rows) {
      expect(row.requests, `${row.workload}/${row.target}`).toBeGreaterThan(0)
      expect({ errors: row.errors, non2xx: row.non2xx }, `${row.workload}/${row.target}`).toEqual({ errors: 0, non2xx: {} })
    }
    expect(httpMarkdown(options, rows)).toContain("| GET a cached order |")
    const profile = readdirSync(profileDirectory).find((name) => name.endsWith(".cpuprofile"))
    expect(profile).toBeDefined()
    const summary = summarize(path.join(profileDirectory, profile!))
    expect(summary.places.map((place) => place.name)).toContain("effect")
  }), 180_000)
