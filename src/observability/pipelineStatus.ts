/**
 * The state of the whole pipeline, read once: which process is the active relay, the outbox backlog
 * per destination, each projection's lag per partition, the dead letters waiting, the quarantined
 * rows, the deliveries stuck past their due time, the sagas (running, stuck, parked, and how far
 * their feed is behind the log), and the cluster's runners and shards. Each part is asked on its
 * own, with a timeout: one that does not answer says so, and the rest shows. The `status` command
 * prints it; the web console shows it to admins.
 */
import { SqlClient } from "@effect/sql"
import amqp from "amqplib"
import { Clock, Duration, Effect, Option, Redacted } from "effect"
import { processes } from "../aggregates.js"
import { readOwnership } from "../cluster/ownership.js"
import { AppConfig } from "../config.js"
import { kafkaClient, partitionLags } from "../messaging/kafka.js"
import { topology } from "../messaging/contracts.js"
import * as DeliveryStore from "../notifications/DeliveryStore.js"
import { RELAY_LOCK } from "../outbox/OutboxRelay.js"
import * as OutboxStore from "../outbox/OutboxStore.js"
import * as ProcessStore from "../processes/ProcessStore.js"
import { projections } from "../projections.js"
import * as QuarantineStore from "../quarantine/QuarantineStore.js"

/** A part of the status, or why it could not be had. */
export type Part<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly error: string }

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
