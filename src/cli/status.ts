/**
 * `status`: the state of the whole pipeline on one screen (or as JSON with --json): which process
 * is the active relay, the outbox backlog per destination, each projection's lag per partition, the
 * dead letters waiting, the quarantined rows, the deliveries stuck past their due time, the sagas
 * (running, stuck, parked, and how far their feed is behind the log), and the cluster: the runners
 * registered and the shards each owns. Each part is asked on its own, with a
 * timeout: one that does not answer says so, and the rest shows.
 */
import { Command, Options } from "@effect/cli"
import { SqlClient } from "@effect/sql"
import amqp from "amqplib"
import { Clock, Console, Duration, Effect, Layer, Option, Redacted } from "effect"
import { DatabaseLive } from "../app.js"
import { type Ownership, readOwnership } from "../cluster/ownership.js"
import { timings } from "../cluster/settings.js"
import { AppConfig } from "../config.js"
import * as DeliveryStore from "../notifications/DeliveryStore.js"
import { kafkaClient, partitionLags } from "../messaging/kafka.js"
import { topology } from "../messaging/contracts.js"
import { RELAY_LOCK } from "../outbox/OutboxRelay.js"
import * as OutboxStore from "../outbox/OutboxStore.js"
import * as QuarantineStore from "../quarantine/QuarantineStore.js"
import { processes } from "../aggregates.js"
import { projections } from "../projections.js"
import * as ProcessStore from "../processes/ProcessStore.js"

/** A part of the status, or why it could not be had. */
type Part<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly error: string }

const part = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<Part<A>, never, R> =>
  effect.pipe(
    // A part given up on is left to close its client in the background: the answer does not wait for it.
    Effect.disconnect,
    Effect.timeoutFail({ duration: Duration.seconds(5), onTimeout: () => "no answer within 5 s" }),
    Effect.match({
      onFailure: (error): Part<A> => ({ ok: false, error: error instanceof Error ? error.message : String(error) }),
      onSuccess: (value): Part<A> => ({ ok: true, value })
    })
  )

const activeRelay = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ pid: number; client: string | null; since: Date }>`
    SELECT a.pid, host(a.client_addr) AS client, a.backend_start AS since
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objid = ${RELAY_LOCK} AND l.classid = 0 AND l.objsubid = 1
      -- Advisory locks belong to a database; pg_locks shows the whole server's.
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`
  const row = rows[0]
  return row === undefined ? null : { pid: row.pid, client: row.client ?? "local", since: row.since.toISOString() }
})

/** Each registered projection's consumer lag, per topic and partition. */
const projectorLag = (brokers: ReadonlyArray<string>, prefix: string) =>
  Effect.acquireUseRelease(
    Effect.tryPromise({
      try: async () => {
        const admin = kafkaClient(brokers, "status").admin()
        await admin.connect()
        return admin
      },
      catch: (error) => new Error(`Kafka does not answer: ${String(error)}`)
    }),
    (admin) =>
      Effect.forEach(projections.flatMap((projection) => projection.streamTypes.map((streamType) => ({ projection: projection.name, streamType }))), (read) =>
        Effect.tryPromise({
          try: () => partitionLags(admin, topology(prefix).eventsTopic(read.streamType), `${prefix}projector.${read.projection}`),
          catch: (error) => new Error(`Kafka: ${String(error)}`)
        }).pipe(Effect.map((lags) => lags.map((lag) => ({ ...read, ...lag }))))).pipe(Effect.map((lags) => lags.flat())),
    (admin) => Effect.promise(() => admin.disconnect().catch(() => undefined))
  )

const queueDepth = (url: Redacted.Redacted, queue: string) =>
  Effect.acquireUseRelease(
    Effect.tryPromise({
      try: () => amqp.connect(Redacted.value(url), { timeout: 5_000 }),
      catch: (error) => new Error(`RabbitMQ does not answer: ${String(error)}`)
    }),
    (connection) =>
      Effect.tryPromise({
        try: async () => {
          const channel = await connection.createChannel()
          channel.on("error", () => undefined)
          // A queue no worker has declared yet holds nothing.
          return await channel.checkQueue(queue).then((declared) => declared.messageCount, (error: Error) => {
            if (String(error.message).includes("NOT_FOUND")) return 0
            throw error
          })
        },
        catch: (error) => new Error(`RabbitMQ: ${String(error)}`)
      }),
    (connection) => Effect.promise(() => connection.close().catch(() => undefined))
  )

/** Each process's sagas: how many run, are stuck or parked, and how many events its feed has yet to read. */
const sagaCounts = Effect.gen(function*() {
  const store = yield* ProcessStore.ProcessStore
  const sql = yield* SqlClient.SqlClient
  const [head] = yield* sql<{ position: number | null }>`SELECT max(global_position) AS position FROM events`
  return yield* Effect.forEach(processes, (process) =>
    Effect.gen(function*() {
      const counts = yield* store.counts(process, new Date(yield* Clock.currentTimeMillis))
      const checkpoint = yield* store.checkpoint(process)
      // No checkpoint: no feed has run yet; the first starts at the head.
      return { process, ...counts, feedBehind: Option.match(checkpoint, { onNone: () => 0, onSome: (at) => Math.max(0, (head?.position ?? 0) - at) }) }
    }))
})

export const readStatus = Effect.gen(function*() {
  const config = yield* AppConfig
  const names = topology(config.messagingPrefix)
  const outbox = yield* OutboxStore.OutboxStore
  const quarantine = yield* QuarantineStore.QuarantineStore
  const deliveries = yield* DeliveryStore.DeliveryStore
  return yield* Effect.all({
    activeRelay: part(activeRelay),
    outboxBacklog: part(outbox.backlog),
    projectorLag: part(projectorLag(config.kafka.brokers, config.messagingPrefix)),
    deadLetters: part(queueDepth(config.amqp.url, names.deadLetterQueue)),
    quarantined: part(Effect.map(quarantine.countBySource, (counts) => Object.values(counts).reduce((sum, count) => sum + count, 0))),
    stuckDeliveries: part(deliveries.countStuck),
    sagas: part(sagaCounts),
    cluster: part(readOwnership(true))
  }, { concurrency: "unbounded" })
})

export type Status = Effect.Effect.Success<typeof readStatus>

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
