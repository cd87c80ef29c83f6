/**
 * Who owns what, as PostgreSQL sees it. A runner owns a shard while its database session holds the
 * shard's advisory lock (key 1,000,000 + shard number for the one shard group); each runner's
 * sessions are named after its address (settings.sessionName), so the locks say whose each shard is.
 * Read by the handover monitor of every node and by `status`; works on any pool of the database.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { SHARDS } from "./settings.js"

/** The advisory-lock keys of the shards: the cluster's SQL runner storage numbers them so. */
const FIRST_LOCK = 1_000_001
const LAST_LOCK = 1_000_000 + SHARDS

export interface ShardHolder {
  /** The runner's address, from its sessions' name; the raw name for a session named otherwise. */
  readonly runner: string
  readonly shards: number
}

export interface RunnerRow {
  readonly address: string
  readonly healthy: boolean
  /** Seconds since its last heartbeat. */
  readonly heartbeatAgeSeconds: number
}

export interface Ownership {
  readonly shards: number
  readonly unowned: number
  readonly holders: ReadonlyArray<ShardHolder>
  readonly runners: ReadonlyArray<RunnerRow>
}

/** Shard locks held in this database, by the session name of their holder. */
const holders = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ application_name: string; shards: number }>`
    SELECT a.application_name, count(*)::int AS shards
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0
      AND l.objid::text::bigint BETWEEN ${FIRST_LOCK} AND ${LAST_LOCK}
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    GROUP BY a.application_name ORDER BY a.application_name`)

/** The runners registered in the cluster's table; none before the first node started. */
const runners = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ address: string; healthy: boolean; age: number }>`
    SELECT address, healthy, extract(epoch FROM (now()::timestamp - last_heartbeat))::float8 AS age
    FROM cluster_runners ORDER BY address`.pipe(
    Effect.catchTag("SqlError", (error) =>
      // 42P01: the table is not there yet (no node has started).
      (error.cause as { code?: string } | undefined)?.code === "42P01" ? Effect.succeed([]) : Effect.fail(error))
  ))

/** Unowned shards and holders in one look; the runners' table too when `withRunners`. */
export const readOwnership = (withRunners: boolean) =>
  Effect.gen(function*() {
    const held = yield* holders
    const owned = held.reduce((sum, row) => sum + row.shards, 0)
    return {
      shards: SHARDS,
      unowned: SHARDS - owned,
      holders: held.map((row) => ({ runner: row.application_name.replace(/^cluster:/, ""), shards: row.shards })),
      runners: withRunners
        ? (yield* runners).map((row) => ({ address: row.address, healthy: row.healthy, heartbeatAgeSeconds: Math.round(row.age * 10) / 10 }))
        : []
    } satisfies Ownership
  })
