/**
 * Watches ownership once a second from each node: the shards this node owns, the shards nobody owns
 * (cluster-wide, from the shard locks), and each handover — from the first shard without an owner
 * to every shard owned again — as a duration. A node killed leaves its shards unowned until the
 * others take them; a node stopping hands them over; one starting takes a share.
 */
import { Sharding } from "@effect/cluster/Sharding"
import { Clock, Duration, Effect, Metric, Schedule } from "effect"
import { durationHistogram } from "../observability/histograms.js"
import { readOwnership } from "./ownership.js"
import { shardIds } from "./settings.js"

const shardsOwned = Metric.gauge("cluster_shards_owned", { description: "Shards this node owns (its aggregates are decided here)" })
const shardsUnowned = Metric.gauge("cluster_shards_unowned", {
  description: "Shards no node owns, seen from this node: commands for their aggregates wait until one takes them"
})
const nodesHolding = Metric.gauge("cluster_nodes_owning_shards", { description: "Nodes that own at least one shard" })
const handoverSeconds = durationHistogram(
  "cluster_handover_seconds",
  "From the first shard without an owner to every shard owned again (a node killed, stopped or added)",
  { fromMillis: 100, count: 10 }
)

export const monitorHandovers = Effect.gen(function*() {
  const sharding = yield* Sharding
  /** When the current episode of unowned shards began; undefined while every shard is owned. */
  let since: number | undefined
  const look = Effect.gen(function*() {
    yield* Metric.set(shardsOwned, shardIds.reduce((n, shard) => n + (sharding.hasShardId(shard) ? 1 : 0), 0))
    const ownership = yield* readOwnership(false)
    yield* Metric.set(shardsUnowned, ownership.unowned)
    yield* Metric.set(nodesHolding, ownership.holders.length)
    const now = yield* Clock.currentTimeMillis
    if (ownership.unowned > 0 && since === undefined) {
      since = now
      yield* Effect.logInfo("shards without an owner; waiting for nodes to take them").pipe(Effect.annotateLogs({ unowned: ownership.unowned }))
    } else if (ownership.unowned === 0 && since !== undefined) {
      const took = now - since
      since = undefined
      yield* Metric.update(handoverSeconds, took)
      yield* Effect.logInfo("every shard owned again").pipe(
        Effect.annotateLogs({ handoverMs: took, owners: ownership.holders.map((holder) => `${holder.runner}=${holder.shards}`).join(" ") })
      )
    }
  })
  yield* look.pipe(
    Effect.catchAll((error) => Effect.logWarning("could not read shard ownership").pipe(Effect.annotateLogs({ error: error.message }))),
    Effect.repeat(Schedule.spaced(Duration.seconds(1))),
    Effect.forkScoped
  )
})
