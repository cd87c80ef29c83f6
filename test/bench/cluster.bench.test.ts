/** The cluster benchmark at a tiny size, so it keeps working; its figures are not asserted here. */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { clusterMarkdown, runClusterBench } from "../../bench/cluster.js"

it.live("bench-cluster drives the setups up to two nodes, each command answered 2xx, and a kill and a stop under load lose nothing", () =>
  Effect.gen(function*() {
    // The three-node setup is left to `make bench-cluster` (the failover below runs three nodes).
    const settings = { seconds: 1, warmupSeconds: 0, connections: 6, orders: 6, kills: 1, stops: 1, maxNodes: 2, quiet: true }
    const { rows, failed } = yield* runClusterBench(settings)
    expect(rows.map((row) => row.nodes)).toEqual([1, 1, 2])
    for (const row of rows) {
      expect(row.perSecond, row.setup).toBeGreaterThan(0)
      expect(row.failed, row.setup).toBe(0)
    }
    expect(failed.rows.map((row) => row.fault)).toEqual(["kill -9", "SIGTERM"])
    expect({ misstored: failed.misstored, unknown: failed.unknown, refused: failed.refused }).toEqual({ misstored: 0, unknown: 0, refused: 0 })
    expect(clusterMarkdown(settings, rows, failed)).toContain("| 2 nodes |")
  }), 240_000)
