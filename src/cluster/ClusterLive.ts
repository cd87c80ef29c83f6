/**
 * This node as a runner of the cluster: @effect/cluster's socket runner (msgpack over TCP), pinged
 * health checks, and the runner registry, shard locks and message tables in PostgreSQL — the
 * database the events live in, so a cluster needs no other server.
 *
 * Built from the library's parts rather than its ready-made node layers, which read HOST and PORT
 * from the environment (PORT is the HTTP API's here) and take every timing from it too: the runner's
 * addresses come from our settings, the timings from settings.ts.
 */
import { PersistenceError } from "@effect/cluster/ClusterError"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Runners from "@effect/cluster/Runners"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import type * as Sharding from "@effect/cluster/Sharding"
import * as SocketRunner from "@effect/cluster/SocketRunner"
import * as SqlMessageStorage from "@effect/cluster/SqlMessageStorage"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import { layerClientProtocol, layerSocketServer } from "@effect/platform-node/NodeClusterSocket"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import { SqlClient } from "@effect/sql"
import { Cause, Context, Duration, Effect, Exit, Layer, type Redacted, Scope } from "effect"
import net from "node:net"
import { MIGRATION_LOCK } from "../database/migrations.js"
import * as PgDatabase from "../database/PgDatabase.js"
import { monitorHandovers } from "./handovers.js"
import { type ClusterAddress, sessionName, shardingConfig, timings } from "./settings.js"

/**
 * The cluster's tables are created by its storage layers as they build (CREATE TABLE IF NOT EXISTS,
 * and a migrator of its own): nodes starting together on an empty database race on them and lose a
 * node at start. Built under the migration lock, they are created once, by whoever comes first; the
 * DDL stays the library's own.
 */
const StorageLive = Layer.scopedContext(
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const sessionScope = yield* Scope.make()
    const session = yield* Scope.extend(sql.reserve, sessionScope)
    yield* session.executeRaw(`SELECT pg_advisory_lock(${MIGRATION_LOCK})`, [])
    const built = yield* Layer.buildWithScope(Layer.merge(SqlMessageStorage.layer, SqlRunnerStorage.layer), yield* Effect.scope).pipe(
      Effect.ensuring(
        session.executeRaw(`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`, []).pipe(
          Effect.ignore,
          Effect.zipRight(Scope.close(sessionScope, Exit.void))
        )
      )
    )
    return Context.add(built, RunnerStorage.RunnerStorage, withPooledProbe(Context.get(built, RunnerStorage.RunnerStorage), sql))
  })
)

/**
 * The runner storage with its liveness probe on the pool. A runner whose lock operation ran past its
 * deadline marks its lock storage unhealthy, gives its shards up, and probes with an empty refresh
 * until it answers; @effect/cluster 0.60.2 sends that probe over the reserved lock connection — the
 * very one left wedged by the operation that was cut off — so the runner stayed unhealthy until it
 * was restarted, and the shards assigned to it went unowned again and again (seen in the history
 * test, whose node reaches the database through a proxy in a busy process). Fixed upstream after
 * 0.60.2 (Effect-TS/effect#7551) the same way: the probe is the runner's heartbeat, on the pool,
 * within the lock interval. The next lock operation that fails rebuilds the wedged connection — which,
 * in our runs, hung as well: a node in that state still needs a restart (README, "Running several
 * nodes"); ShardsWithoutOwner fires on it.
 */
const withPooledProbe = (storage: Context.Tag.Service<RunnerStorage.RunnerStorage>, sql: SqlClient.SqlClient) =>
  RunnerStorage.RunnerStorage.of({
    ...storage,
    refresh: (address, shardIds) => {
      const shards = Array.from(shardIds)
      return shards.length > 0
        ? storage.refresh(address, shards)
        : sql`UPDATE cluster_runners SET last_heartbeat = NOW() WHERE address = ${`${address.host}:${address.port}`}`.pipe(
          Effect.timeout(timings.shardLockRefreshInterval),
          Effect.as([]),
          PersistenceError.refail
        )
    }
  })

/**
 * The cluster's own small pool, named after the runner: the message storage keeps Snowflake ids in
 * INT8 columns, which the application's pool reads as numbers (they pass 2^53 and would be rounded);
 * and the runner's heartbeats and lock refreshes never queue behind commands for a connection. Its
 * connections have the application's deadlines: one gone half-open is destroyed after 12 s, not
 * kept waiting for a reply that never comes (while the server holds its shard locks).
 */
const database = (url: Redacted.Redacted, address: ClusterAddress) =>
  PgDatabase.layer({
    url,
    maxConnections: 8,
    applicationName: sessionName(address),
    statementTimeout: Duration.seconds(10),
    bigintsAsStrings: true,
    poolMetrics: false
  })

/** A free TCP port on `host`: CLUSTER_RUNNER_PORT=0 (the test suite's processes) takes one. */
const freePort = (host: string) =>
  Effect.async<number, Error>((resume) => {
    const server = net.createServer()
    server.once("error", (error) => resume(Effect.fail(error)))
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resume(Effect.succeed(port)))
    })
  })

/** Why the runner did not start, for the log: the first line of the cause and what to check. */
class ClusterStartFailed extends Error {}

/** This node's Sharding, on `address` (port 0: any free one), with its tables in the database at `url`. */
export const layer = (address: ClusterAddress, url: Redacted.Redacted): Layer.Layer<Sharding.Sharding> =>
  Layer.unwrapEffect(
    Effect.map(
      address.port === 0 ? Effect.map(Effect.orDie(freePort(address.listenHost)), (port) => ({ ...address, port })) : Effect.succeed(address),
      (bound) =>
        Layer.scopedDiscard(monitorHandovers).pipe(
          Layer.provideMerge(SocketRunner.layer),
          Layer.provide([layerSocketServer, layerClientProtocol]),
          Layer.provide(RunnerHealth.layerPing.pipe(Layer.provide(Runners.layerRpc), Layer.provide(layerClientProtocol))),
          Layer.provide(StorageLive),
          Layer.provide(shardingConfig(bound)),
          Layer.provide([RpcSerialization.layerMsgPack, database(url, bound)]),
          Layer.tap(() => Effect.logInfo("cluster runner started").pipe(Effect.annotateLogs({ runner: `${bound.host}:${bound.port}` }))),
          Layer.catchAllCause((cause) =>
            Layer.die(
              new ClusterStartFailed(
                `the cluster runner could not start on ${bound.listenHost}:${bound.port} (advertised as ${bound.host}:${bound.port}): ` +
                  `${Cause.pretty(cause).split("\n")[0]}. Another node on this machine needs its own CLUSTER_RUNNER_PORT; ` +
                  "the database must be reachable"
              )
            ))
        )
    )
  )
