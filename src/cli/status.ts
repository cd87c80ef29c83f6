/**
 * `status`: the state of the whole pipeline on one screen (or as JSON with --json), as
 * observability/pipelineStatus.ts reads it: the active relay, the outbox backlog, the projections'
 * lag, dead letters, quarantine, stuck deliveries, sagas, and the cluster's runners and shards. A
 * part that does not answer says so, and the rest shows.
 */
import { Command, Options } from "@effect/cli"
import { Console, Duration, Effect, Layer } from "effect"
import { DatabaseLive } from "../app.js"
import type { Ownership } from "../cluster/ownership.js"
import { timings } from "../cluster/settings.js"
import * as DeliveryStore from "../notifications/DeliveryStore.js"
import { type Part, readStatus, type Status } from "../observability/pipelineStatus.js"
import * as OutboxStore from "../outbox/OutboxStore.js"
import * as ProcessStore from "../processes/ProcessStore.js"
import * as QuarantineStore from "../quarantine/QuarantineStore.js"

export { readStatus, type Status } from "../observability/pipelineStatus.js"


const show = <A>(value: Part<A>, render: (value: A) => string) => value.ok ? render(value.value) : `unknown (${value.error})`

/** A runner whose heartbeat is older than a shard lock lives is taken for gone by the others. */
const STALE_AFTER_SECONDS = Duration.toSeconds(timings.shardLockExpiration)

/**
 * The cluster: a summary, then a row per runner — those registered, and any session holding shard
 * locks that is not (a runner whose row was removed while its session lives on).
 */
const renderCluster = (ownership: Ownership, indent: string) => {
  const { holders, runners, shards, unowned } = ownership
  if (runners.length === 0 && holders.length === 0) {
    return `no runners: no node is running on this database (none has started, or all have stopped); ${shards} shards unowned`
  }
  const shardsOf = (runner: string) => holders.find((holder) => holder.runner === runner)?.shards ?? 0
  const rows = [
    ...runners.map((runner) => ({
      address: runner.address,
      shards: shardsOf(runner.address),
      state: `${runner.healthy ? "healthy" : "unhealthy"}  heartbeat ${runner.heartbeatAgeSeconds.toFixed(1)} s ago` +
        (runner.heartbeatAgeSeconds > STALE_AFTER_SECONDS ? " (stale: taken for gone)" : "")
    })),
    ...holders.filter((holder) => !runners.some((runner) => runner.address === holder.runner))
      .map((holder) => ({ address: holder.runner, shards: holder.shards, state: "not registered" }))
  ]
  const width = Math.max(...rows.map((row) => row.address.length))
  const summary = `${runners.length} runner${runners.length === 1 ? "" : "s"}, ${shards - unowned}/${shards} shards owned` +
    (unowned === 0 ? "" : `, ${unowned} unowned`)
  return [
    summary,
    ...rows.map((row) =>
      `${indent}${row.address.padEnd(width)}  ${(row.shards === 0 ? "no shards" : `${row.shards} shards`).padStart(10)}  ${row.state}`
    )
  ].join("\n")
}

/** The status as lines of text, one part each (the cluster's runners on lines of their own). */
export const renderStatus = (status: Status) =>
  [
    `active relay        ${show(status.activeRelay, (relay) => relay === null ? "none: no relay holds the lock" : `pid ${relay.pid} from ${relay.client}, since ${relay.since}`)}`,
    `outbox backlog      ${show(status.outboxBacklog, (backlog) => OutboxStore.destinations.map((destination) => {
      const { oldestAgeSeconds, pending } = backlog[destination]
      return `${destination} ${pending}${pending === 0 ? "" : ` (oldest ${oldestAgeSeconds.toFixed(1)} s)`}`
    }).join(", "))}`,
    `projector lag       ${show(status.projectorLag, (lags) =>
      lags.map(({ lag, partition, projection, streamType }) => `${projection} ${streamType} p${partition} ${lag}`).join(", ") || "no partitions")}`,
    `dead letters        ${show(status.deadLetters, String)}`,
    `quarantined rows    ${show(status.quarantined, String)}`,
    `stuck deliveries    ${show(status.stuckDeliveries, String)}`,
    `sagas               ${show(status.sagas, (all) => all.map((counts) =>
      `${counts.process}: ${counts.running} running, ${counts.stuck} stuck, ${counts.parked} parked; feed ${counts.feedBehind} events behind the log`
    ).join("; "))}`,
    `cluster             ${show(status.cluster, (ownership) => renderCluster(ownership, " ".repeat(22)))}`
  ].join("\n")

const StatusLive = Layer.mergeAll(OutboxStore.layer, QuarantineStore.layer, DeliveryStore.layer, ProcessStore.layer).pipe(
  Layer.provideMerge(DatabaseLive)
)

export const status = Command.make("status", {
  json: Options.boolean("json").pipe(Options.withDescription("Print the status as JSON"))
}, ({ json }) =>
  Effect.gen(function*() {
    const current = yield* readStatus
    yield* Console.log(json ? JSON.stringify(current, null, 2) : renderStatus(current))
  }).pipe(Effect.provide(StatusLive))).pipe(
  Command.withDescription(
    "The pipeline at a glance: active relay, outbox backlog, projector lag, dead letters, quarantine, stuck deliveries, sagas, cluster runners and shards"
  )
)
