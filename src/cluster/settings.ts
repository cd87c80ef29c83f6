/**
 * How this node takes part in the cluster. Only the addresses are settings: every timing is a
 * constant here, the same in every process of a cluster by construction — runners with different
 * shard counts route to different owners, and one with another lock expiry sees other runners alive.
 */
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as ShardId from "@effect/cluster/ShardId"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import { Duration, Option } from "effect"

export interface ClusterAddress {
  /** Where the other nodes reach this one's runner (CLUSTER_RUNNER_HOST:CLUSTER_RUNNER_PORT); its name in the cluster. */
  readonly host: string
  readonly port: number
  /** The address the runner binds (CLUSTER_LISTEN_HOST); the advertised host unless set. */
  readonly listenHost: string
}

/** Shards per aggregate type: the unit of placement; many more than nodes, so that shares stay even. */
export const SHARDS = 300

/** The shards of the one shard group, in order. */
export const shardIds = Array.from({ length: SHARDS }, (_, i) => ShardId.make("default", i + 1))

/**
 * Failover within seconds: a dead runner fails its pings (every 2 s) and its shard locks are released
 * when its database session ends (at once on a local network; the server's `tcp_keepalives_*` bound
 * it across a partition), and the others look at the assignments every second. A runner's lock
 * operations must answer within 3 s (the refresh interval): a node whose database answers slower
 * gives its shards up rather than hold them unsure (at 1 s, a saturated node did so every few
 * seconds and its shards went back and forth). A stopping runner hands its shards over after
 * finishing what it holds, waiting at most `entityTerminationTimeout`.
 */
export const timings = {
  shardsPerGroup: SHARDS,
  shardLockRefreshInterval: Duration.seconds(3),
  shardLockExpiration: Duration.seconds(9),
  refreshAssignmentsInterval: Duration.seconds(1),
  runnerHealthCheckInterval: Duration.seconds(2),
  entityMessagePollInterval: Duration.seconds(1),
  sendRetryInterval: Duration.millis(100),
  entityTerminationTimeout: Duration.seconds(10),
  // Messages between nodes are serialized anyway; on the node itself the runtime never sends one.
  simulateRemoteSerialization: false
} satisfies Partial<ShardingConfig.ShardingConfig["Type"]>

/** A command or read sent to another node that has not answered within this fails (see AggregateRouter). */
export const REMOTE_DEADLINE = Duration.seconds(15)

/** This node's ShardingConfig: the shared timings and its own addresses, from the project's settings only. */
export const shardingConfig = (address: ClusterAddress) =>
  ShardingConfig.layer({
    ...timings,
    runnerAddress: Option.some(RunnerAddress.make(address.host, address.port)),
    runnerListenAddress: Option.some(RunnerAddress.make(address.listenHost, address.port))
  })

/** The name this node's database sessions carry (application_name): how `status` tells whose shard lock is whose. */
export const sessionName = (address: ClusterAddress) => `cluster:${address.host}:${address.port}`
