/**
 * The PostgreSQL client layer: one pool per process, built from the settings, and sessions of their
 * own for what must never share a pooled connection (the relay's lock).
 *
 * Every connection has TCP keepalive on, and bounds on every wait: the server cancels a statement
 * that runs longer than `statementTimeout` and ends a session left idle inside a transaction; the
 * client gives up on a reply that has not come 2 s after that (the server would have answered by
 * then, so the connection is dead or cut off) and destroys that connection, so the pool never hands
 * it out again.
 */
import { SqlError } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Context, Duration, Effect, Layer, Metric, Redacted, type Scope } from "effect"
import type net from "node:net"
import pg from "pg"
import { sampleOnScrape } from "../observability/prometheus.js"

export interface PgDatabaseOptions {
  readonly url: Redacted.Redacted
  readonly maxConnections: number
  readonly applicationName?: string
  /** The server cancels statements running longer than this (default 30 s). */
  readonly statementTimeout?: Duration.Duration | undefined
  /** The server ends sessions idle inside a transaction for longer than this (default 30 s). */
  readonly idleInTransactionTimeout?: Duration.Duration | undefined
  /** bigint columns as strings, node-pg's default: for ids beyond 2^53 (the cluster's Snowflake ids). */
  readonly bigintsAsStrings?: boolean | undefined
  /** Whether the pool's connections and waiters are the process's pg_pool_* metrics (the application's pool; default true). */
  readonly poolMetrics?: boolean | undefined
}

/**
 * bigint columns here are positions and counters that stay far below 2^53, so they are read as
 * numbers rather than strings; every other type keeps node-pg's parser.
 */
const bigintsAsNumbers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === pg.types.builtins.INT8 && format !== "binary"
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format ?? "text")) as pg.CustomTypesConfig["getTypeParser"]
}

/** How long the client waits for a reply beyond the server's own statement timeout. */
const REPLY_GRACE = Duration.seconds(2)

/** What every connection of the process is opened with. */
export const connectionOptions = (options: PgDatabaseOptions): pg.ClientConfig => {
  const statementTimeout = options.statementTimeout ?? Duration.seconds(30)
  return {
    connectionString: Redacted.value(options.url),
    application_name: options.applicationName ?? "event-sourced-actors",
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    statement_timeout: Duration.toMillis(statementTimeout),
    idle_in_transaction_session_timeout: Duration.toMillis(options.idleInTransactionTimeout ?? Duration.seconds(30)),
    query_timeout: Duration.toMillis(Duration.sum(statementTimeout, REPLY_GRACE)),
    ...(options.bigintsAsStrings === true ? {} : { types: bigintsAsNumbers })
  }
}

/**
 * node-pg answers a reply that did not come within `query_timeout` with an error but keeps the
 * connection, still waiting for that reply: back in a pool, it would stall whoever gets it next.
 * This client destroys the connection instead; the pool then discards it.
 */
class DeadlineClient extends pg.Client {
  override query(...args: Array<any>): any {
    const last = args.length - 1
    const callback = args[last]
    if (typeof callback === "function") {
      args[last] = (error: Error | null, result: unknown) => {
        if (error?.message === "Query read timeout") (this as unknown as { connection: { stream: net.Socket } }).connection.stream.destroy()
        callback(error, result)
      }
    }
    return (super.query as (...a: Array<any>) => any)(...args)
  }
}

/** Opens sessions of their own, outside the pool (see `dedicatedSession`). */
export class Sessions extends Context.Tag("app/PgSessions")<Sessions, {
  readonly open: Effect.Effect<pg.Client, SqlError.SqlError, Scope.Scope>
}>() {}

/** The pool (as PgClient and SqlClient) and dedicated sessions, with the same connection settings. */
export const layer = (options: PgDatabaseOptions) =>
  Layer.merge(pool(options), Layer.succeed(Sessions, { open: dedicatedSession(options) }))

const poolConnections = Metric.gauge("pg_pool_connections", { description: "Connections of the pool, by state (busy, idle)" })
const poolWaiting = Metric.gauge("pg_pool_waiting", { description: "Queries waiting for a connection of the pool" })

/** The pool's connections and waiters, read at each scrape: a pool too small for the load shows here first. */
const samplePool = (pool: pg.Pool) =>
  Effect.suspend(() =>
    Effect.all([
      Metric.set(Metric.tagged(poolConnections, "state", "busy"), pool.totalCount - pool.idleCount),
      Metric.set(Metric.tagged(poolConnections, "state", "idle"), pool.idleCount),
      Metric.set(poolWaiting, pool.waitingCount)
    ], { discard: true })
  )

const pool = (options: PgDatabaseOptions) =>
  PgClient.layerFromPool({
    acquire: Effect.acquireRelease(
      Effect.sync(() => {
        const pool = new pg.Pool({
          ...connectionOptions(options),
          Client: DeadlineClient,
          max: options.maxConnections,
          idleTimeoutMillis: 30_000
        })
        // An idle connection that fails is dropped by the pool; the error itself needs no handler.
        pool.on("error", () => undefined)
        return { pool, unregister: options.poolMetrics === false ? () => undefined : sampleOnScrape(samplePool(pool)) }
      }),
      ({ pool, unregister }) => Effect.sync(unregister).pipe(Effect.zipRight(Effect.promise(() => pool.end())), Effect.timeoutOption("1 second"))
    ).pipe(Effect.map(({ pool }) => pool)),
    ...(options.bigintsAsStrings === true ? {} : { types: bigintsAsNumbers })
  }).pipe(Layer.orDie)

/**
 * A session of its own, outside the pool, for the scope: closed at the end, and destroyed — never
 * reused — when closing it does not finish in time.
 */
export const dedicatedSession = (options: PgDatabaseOptions) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const client = new DeadlineClient(connectionOptions(options))
        client.on("error", () => undefined)
        await client.connect()
        return client
      },
      catch: (cause) => new SqlError.SqlError({ cause, message: "Failed to open a dedicated session" })
    }),
    (client) =>
      Effect.promise(() => client.end()).pipe(
        Effect.timeoutOption("2 seconds"),
        Effect.flatMap((ended) =>
          ended._tag === "Some"
            ? Effect.void
            : Effect.sync(() => (client as unknown as { connection: { stream: net.Socket } }).connection.stream.destroy())
        )
      )
  )

/** Runs one statement on a dedicated session. */
export const query = <Row>(client: pg.Client, text: string, values: ReadonlyArray<unknown> = []) =>
  Effect.tryPromise({
    try: () => client.query(text, values as Array<unknown>).then((result) => result.rows as ReadonlyArray<Row>),
    catch: (cause) => new SqlError.SqlError({ cause, message: "Failed to execute statement" })
  })
