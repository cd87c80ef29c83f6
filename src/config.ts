/**
 * Every setting of the project, read once from the environment and validated, with the defaults of
 * the design. A bad value stops start-up with a message naming the variable.
 */
import { Config, Context, Duration, Effect, Layer, LogLevel, Redacted } from "effect"

const withDefault = <A>(config: Config.Config<A>, fallback: A) => Config.withDefault(config, fallback)

const positiveInt = (name: string, fallback: number) =>
  withDefault(
    Config.integer(name).pipe(Config.validate({ message: "must be a whole number above 0", validation: (n) => n > 0 })),
    fallback
  )

const commaList = (name: string, fallback: string) =>
  withDefault(Config.string(name), fallback).pipe(
    Config.map((raw) => raw.split(",").map((part) => part.trim()).filter((part) => part.length > 0)),
    Config.validate({ message: "must list at least one host:port", validation: (list) => list.length > 0 })
  )

const url = (name: string, fallback: string) =>
  withDefault(Config.redacted(name), Redacted.make(fallback)).pipe(
    Config.validate({
      message: "must be a URL",
      validation: (value) => URL.canParse(Redacted.value(value))
    })
  )

export const appConfig = Config.all({
  http: Config.all({
    port: withDefault(Config.port("PORT"), 3000),
    /** Request bodies above this many bytes get 413. */
    maxBodyBytes: positiveInt("HTTP_MAX_BODY_BYTES", 64 * 1024)
  }),
  database: Config.all({
    url: url("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/actors"),
    maxConnections: positiveInt("PG_MAX_CONNECTIONS", 20),
    /** The server cancels a statement running longer; the client gives up on a reply 2 s after that. */
    statementTimeout: withDefault(Config.duration("PG_STATEMENT_TIMEOUT"), Duration.seconds(30)),
    /** The server ends a session left idle inside a transaction for longer. */
    idleInTransactionTimeout: withDefault(Config.duration("PG_IDLE_IN_TRANSACTION_TIMEOUT"), Duration.seconds(30)),
    /**
     * An append not answered within this has lost its reply: it is resolved by its event ids, and
     * reported as of unknown outcome when that fails too.
     */
    appendTimeout: withDefault(Config.duration("APPEND_TIMEOUT"), Duration.seconds(5)),
    /** Idempotency keys are kept this long: a retry within it gets the first answer; after it, it is a new request. */
    idempotencyRetention: withDefault(Config.duration("IDEMPOTENCY_RETENTION"), Duration.hours(24))
  }),
  kafka: Config.all({
    brokers: commaList("KAFKA_BROKERS", "127.0.0.1:9092"),
    /** Partitions of each `<stream type>.events` topic the runtime creates (an aggregate stays in one). */
    topicPartitions: positiveInt("KAFKA_TOPIC_PARTITIONS", 3),
    replicationFactor: positiveInt("KAFKA_REPLICATION_FACTOR", 1)
  }),
  /**
   * Put before every topic, exchange and queue name (`staging.` gives `staging.order.events`), so
   * that several deployments, or test runs, can share brokers. Empty by default.
   */
  messagingPrefix: withDefault(Config.string("MESSAGING_PREFIX"), "").pipe(
    Config.validate({
      message: "may hold only letters, digits, '.', '_' and '-'",
      validation: (prefix) => /^[A-Za-z0-9._-]*$/.test(prefix)
    })
  ),
  outbox: Config.all({
    /** Run the relay inside `serve` (it can also run alone: `relay`). */
    relayEnabled: withDefault(Config.boolean("OUTBOX_RELAY"), true),
    /** Rows published per broker round trip. */
    batchSize: positiveInt("OUTBOX_BATCH_SIZE", 2000),
    /** The relay is woken by NOTIFY at each commit; it also looks this often, in case one was missed. */
    pollInterval: withDefault(Config.duration("OUTBOX_POLL_INTERVAL"), Duration.seconds(1)),
    /** Delivered rows are kept this long (for inspection), then deleted. */
    retention: withDefault(Config.duration("OUTBOX_RETENTION"), Duration.hours(24)),
    /**
     * Fault injection for the test suite: the relay's process kills itself right after publishing a
     * batch to this destination (`events` or `notifications`), before marking it delivered.
     */
    crashAfterPublish: Config.option(Config.literal("events", "notifications")("OUTBOX_CRASH_AFTER_PUBLISH"))
  }),
  amqp: Config.all({
    url: url("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")
  }),
  projections: Config.all({
    /** Run the projector inside `serve` (it can also run alone: `project`). */
    projectorEnabled: withDefault(Config.boolean("PROJECTOR"), true),
    /** A projection lag (event recorded → row written) above this is logged as a warning. */
    lagWarning: withDefault(Config.duration("PROJECTION_LAG_WARNING"), Duration.seconds(5))
  }),
  /** Where workers POST notifications; `worker` refuses to start without it. */
  pushGatewayUrl: Config.option(
    Config.string("PUSH_GATEWAY_URL").pipe(Config.validate({ message: "must be a URL", validation: (value) => URL.canParse(value) }))
  ),
  worker: Config.all({
    /** Tasks RabbitMQ hands one worker process before it has acked them. */
    prefetch: positiveInt("WORKER_PREFETCH", 256),
    /** Tasks one worker process handles at the same time. */
    concurrency: positiveInt("WORKER_CONCURRENCY", 64),
    /** A push not answered within this time failed (and may be retried). */
    pushTimeout: withDefault(Config.duration("PUSH_TIMEOUT"), Duration.seconds(5)),
    /** Attempts per task, the first included; then it goes to the dead-letter queue. */
    maxAttempts: positiveInt("WORKER_MAX_ATTEMPTS", 5),
    /** The wait before the first retry; each next one waits twice as long. */
    retryBaseDelay: withDefault(Config.duration("WORKER_RETRY_BASE_DELAY"), Duration.seconds(1)),
    /** Port of the worker's /health and /metrics (0: any free port, logged at start). */
    port: withDefault(
      Config.integer("WORKER_PORT").pipe(
        Config.validate({ message: "must be a port number, or 0 for any free port", validation: (n) => n >= 0 && n <= 65_535 })
      ),
      3001
    ),
    /** How often each worker's sweeper looks for deliveries stuck past their due time. */
    sweepInterval: withDefault(Config.duration("WORKER_SWEEP_INTERVAL"), Duration.seconds(10)),
    /**
     * A delivery still unsettled this long after it was due back (its claim ran out, or its retry
     * wait ended) lost its message: the sweeper publishes its task again, and again after as long.
     */
    sweepGrace: withDefault(Config.duration("WORKER_SWEEP_GRACE"), Duration.seconds(30)),
    /** Deliveries one sweep takes at most. */
    sweepBatch: positiveInt("WORKER_SWEEP_BATCH", 500),
    /** Settled delivery records are deleted after this; a duplicate task within it is recognised and dropped. */
    deliveryRetention: withDefault(Config.duration("WORKER_DELIVERY_RETENTION"), Duration.days(7)),
    /** Fault injection for the test suite: the worker kills itself after recording a push, before the ack. */
    crashBeforeAck: withDefault(Config.boolean("WORKER_CRASH_BEFORE_ACK"), false),
    /** Fault injection for the test suite: the worker kills itself right after a push, before recording it. */
    crashAfterPush: withDefault(Config.boolean("WORKER_CRASH_AFTER_PUSH"), false)
  }),
  /** Events between snapshots of an aggregate; 0 switches snapshots off. SNAPSHOT_EVERY_<TYPE> sets one type's. */
  snapshotEvery: withDefault(
    Config.integer("SNAPSHOT_EVERY").pipe(Config.validate({ message: "must be a whole number, 0 or more", validation: (n) => n >= 0 })),
    50
  ),
  logLevel: withDefault(Config.logLevel("LOG_LEVEL"), LogLevel.Info),
  runtime: Config.all({
    /** Commands waiting per actor; one more is refused as Overloaded (503). */
    mailboxCapacity: positiveInt("ACTOR_MAILBOX_CAPACITY", 1024),
    /** Actors with no command for this long are passivated. */
    idleTimeout: withDefault(Config.duration("ACTOR_IDLE_TIMEOUT"), Duration.minutes(5)),
    /** Live actors at most; past it the least recently used idle actor is passivated. */
    maxActors: positiveInt("ACTOR_MAX_LIVE", 10_000),
    /** How often a command is re-decided after another process appended to its stream meanwhile. */
    conflictRetries: positiveInt("ACTOR_CONFLICT_RETRIES", 5)
  })
})

export type AppConfigShape = Config.Config.Success<typeof appConfig>
export type RuntimeSettings = AppConfigShape["runtime"] & {
  /** Events between snapshots of this aggregate type; 0: none. */
  readonly snapshotEvery?: number
}

export class AppConfig extends Context.Tag("app/AppConfig")<AppConfig, AppConfigShape>() {
  /** Reads the environment once; a ConfigError names the variable and what is wrong with it. */
  static readonly layer = Layer.effect(AppConfig, Effect.flatMap(appConfig, Effect.succeed))
}
