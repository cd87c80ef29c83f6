/**
 * Every setting of the project, read once from the environment and validated, with the defaults of
 * the design. A bad value stops start-up with a message naming the variable.
 */
import { Config, Context, Duration, Effect, Either, Layer, LogLevel, Option, Redacted } from "effect"

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

const positiveNumber = (name: string, fallback: number) =>
  withDefault(
    Config.number(name).pipe(Config.validate({ message: "must be a number above 0", validation: (n) => n > 0 })),
    fallback
  )

/** Verifies the tokens of an OpenID Connect provider: its keys from its JWKS URL, refreshed when a new key id appears. */
export interface JwksAuth {
  readonly _tag: "Jwks"
  readonly url: URL
  /** An unknown key id fetches the JWKS again, at most once per this. */
  readonly cooldown: Duration.Duration
  /** The keys are fetched again after this, even when no unknown key id came. */
  readonly cacheMaxAge: Duration.Duration
}

/** Verifies against public keys in a local JWKS file, read at start-up. */
export interface KeysFileAuth {
  readonly _tag: "Keys"
  readonly file: string
}

/** Local development: a key pair generated once into `keyFile`; `token` signs with it. */
export interface DevAuth {
  readonly _tag: "Dev"
  readonly keyFile: string
}

export type AuthSettings = (JwksAuth | KeysFileAuth | DevAuth) & {
  readonly issuer: string
  readonly audience: string
  /** The claim holding the roles, an array of strings. */
  readonly rolesClaim: string
  /** Leeway for exp and nbf, for clocks that disagree a little. */
  readonly clockSkew: Duration.Duration
}

/** The issuer and audience of development tokens, unless AUTH_ISSUER and AUTH_AUDIENCE say otherwise. */
export const devIssuer = "urn:event-sourced-actors:dev"
export const devAudience = "event-sourced-actors"

/** The AUTH_* settings as given; `resolveAuth` makes them one consistent choice, where tokens are verified or signed. */
const rawAuth = Config.all({
  mode: Config.option(Config.literal("jwks", "keys", "dev")("AUTH_MODE")),
  jwksUrl: Config.option(Config.url("AUTH_JWKS_URL")),
  publicKeysFile: Config.option(Config.nonEmptyString("AUTH_PUBLIC_KEYS_FILE")),
  issuer: Config.option(Config.nonEmptyString("AUTH_ISSUER")),
  audience: Config.option(Config.nonEmptyString("AUTH_AUDIENCE")),
  rolesClaim: withDefault(Config.nonEmptyString("AUTH_ROLES_CLAIM"), "roles"),
  clockSkew: withDefault(Config.duration("AUTH_CLOCK_SKEW"), Duration.seconds(30)),
  jwksCooldown: withDefault(Config.duration("AUTH_JWKS_COOLDOWN"), Duration.seconds(30)),
  jwksCacheMaxAge: withDefault(Config.duration("AUTH_JWKS_CACHE_MAX_AGE"), Duration.minutes(10)),
  devKeyFile: withDefault(Config.nonEmptyString("AUTH_DEV_KEY_FILE"), ".data/auth/dev-signing-key.json"),
  production: withDefault(Config.string("NODE_ENV"), "").pipe(Config.map((env) => env === "production"))
})

/**
 * Which keys verify tokens: AUTH_MODE when given, else the JWKS URL or the keys file that is set,
 * else development keys. A provider's tokens are checked against its issuer and audience, so both
 * must be named; development keys are refused in production.
 */
export type RawAuthSettings = Config.Config.Success<typeof rawAuth>

export const resolveAuth = (raw: RawAuthSettings): Either.Either<AuthSettings, string> => {
  const given = [Option.isSome(raw.jwksUrl) && "AUTH_JWKS_URL", Option.isSome(raw.publicKeysFile) && "AUTH_PUBLIC_KEYS_FILE"]
    .filter((name) => name !== false)
  if (Option.isNone(raw.mode) && given.length > 1) {
    return Either.left(`${given.join(" and ")} are both set: set AUTH_MODE=jwks or AUTH_MODE=keys to say which to use`)
  }
  const mode = Option.getOrElse(raw.mode, () =>
    Option.isSome(raw.jwksUrl) ? "jwks" as const : Option.isSome(raw.publicKeysFile) ? "keys" as const : "dev" as const)
  const common = { rolesClaim: raw.rolesClaim, clockSkew: raw.clockSkew }
  if (mode === "dev") {
    if (raw.production) {
      return Either.left("AUTH_MODE=dev (the default when no AUTH_JWKS_URL or AUTH_PUBLIC_KEYS_FILE is set) is refused with " +
        "NODE_ENV=production: set AUTH_JWKS_URL (or AUTH_PUBLIC_KEYS_FILE), AUTH_ISSUER and AUTH_AUDIENCE")
    }
    return Either.right({
      _tag: "Dev",
      keyFile: raw.devKeyFile,
      issuer: Option.getOrElse(raw.issuer, () => devIssuer),
      audience: Option.getOrElse(raw.audience, () => devAudience),
      ...common
    })
  }
  const missing = [
    mode === "jwks" && Option.isNone(raw.jwksUrl) && "AUTH_JWKS_URL",
    mode === "keys" && Option.isNone(raw.publicKeysFile) && "AUTH_PUBLIC_KEYS_FILE",
    Option.isNone(raw.issuer) && "AUTH_ISSUER",
    Option.isNone(raw.audience) && "AUTH_AUDIENCE"
  ].filter((name) => name !== false)
  if (missing.length > 0 || Option.isNone(raw.issuer) || Option.isNone(raw.audience)) {
    return Either.left(`AUTH_MODE=${mode} needs ${missing.join(", ")}: tokens are checked against the provider's keys, issuer and audience`)
  }
  const checks = { issuer: raw.issuer.value, audience: raw.audience.value, ...common }
  if (mode === "jwks") {
    return Either.right({
      _tag: "Jwks",
      url: Option.getOrThrow(raw.jwksUrl),
      cooldown: raw.jwksCooldown,
      cacheMaxAge: raw.jwksCacheMaxAge,
      ...checks
    })
  }
  return Either.right({ _tag: "Keys", file: Option.getOrThrow(raw.publicKeysFile), ...checks })
}

const opsPort = (name: string, fallback: number) =>
  withDefault(
    Config.integer(name).pipe(
      Config.validate({ message: "must be a port number, or 0 for any free port", validation: (n) => n >= 0 && n <= 65_535 })
    ),
    fallback
  )

const rateLimit = (prefix: string, perSecond: number, burst: number) =>
  Config.all({
    perSecond: positiveNumber(`${prefix}_PER_SECOND`, perSecond),
    burst: positiveInt(`${prefix}_BURST`, burst)
  })

export const appConfig = Config.all({
  http: Config.all({
    port: withDefault(Config.port("PORT"), 3000),
    /** Request bodies above this many bytes get 413. */
    maxBodyBytes: positiveInt("HTTP_MAX_BODY_BYTES", 64 * 1024),
    /** Browser origins allowed to call the API (CORS); none by default, and then no CORS headers at all. */
    corsOrigins: withDefault(Config.string("CORS_ORIGINS"), "").pipe(
      Config.map((raw) => raw.split(",").map((part) => part.trim()).filter((part) => part.length > 0)),
      Config.validate({
        message: "must list origins such as https://shop.example.com, separated by commas",
        validation: (origins) => origins.every((origin) => URL.canParse(origin) && new URL(origin).origin === origin)
      })
    ),
    /**
     * Behind a proxy, a caller's address is the last one the proxy adds to X-Forwarded-For; only
     * set this when a proxy you run sets that header, or callers can pick their own address.
     */
    trustProxy: withDefault(Config.boolean("HTTP_TRUST_PROXY"), false),
    /** The level of the one access-log line each request gets; `none` writes none. */
    accessLogLevel: withDefault(
      Config.literal("none")("HTTP_ACCESS_LOG").pipe(Config.orElse(() => Config.logLevel("HTTP_ACCESS_LOG"))),
      LogLevel.Info as LogLevel.LogLevel | "none"
    )
  }),
  auth: rawAuth,
  /** Requests per principal, and per address for requests without a valid token. */
  rateLimits: Config.all({
    principal: rateLimit("RATE_LIMIT", 100, 200),
    anonymous: rateLimit("RATE_LIMIT_ANONYMOUS", 20, 40)
  }),
  /** The ops server (/metrics, /health, /ready) of `serve`; 0: any free port, logged at start. */
  ops: Config.all({
    port: opsPort("OPS_PORT", 9400),
    /** The address the ops servers of every process bind to: loopback unless told otherwise. */
    host: withDefault(Config.nonEmptyString("OPS_HOST"), "127.0.0.1")
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
    /** Port of the ops server (/health, /ready, /metrics) of a standalone `relay` (0: any free port, logged at start). */
    port: opsPort("RELAY_PORT", 3002),
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
    /** Port of the ops server (/health, /ready, /metrics) of a standalone `project` (0: any free port, logged at start). */
    port: opsPort("PROJECTOR_PORT", 3003),
    /**
     * The projection lag target (event recorded → row written): a row later than this counts as a
     * breach (projection_lag_breaches_total), and crossing it is logged as a warning.
     */
    lagWarning: withDefault(Config.duration("PROJECTION_LAG_WARNING"), Duration.millis(200))
  }),
  /** Where workers POST notifications; `worker` refuses to start without it. */
  pushGatewayUrl: Config.option(
    Config.string("PUSH_GATEWAY_URL").pipe(Config.validate({ message: "must be a URL", validation: (value) => URL.canParse(value) }))
  ),
  /** Sent to the push gateway as `Authorization: Bearer <token>` when set. */
  pushGatewayToken: Config.option(Config.redacted("PUSH_GATEWAY_TOKEN")),
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
    /** Port of the worker's ops server (/health, /ready, /metrics) (0: any free port, logged at start). */
    port: opsPort("WORKER_PORT", 3001),
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
  payments: Config.all({
    /** The payment provider's base URL (`make payment-sink` serves a local stand-in); without it, payment steps fail and wait. */
    providerUrl: Config.option(
      Config.string("PAYMENT_PROVIDER_URL").pipe(Config.validate({ message: "must be a URL", validation: (value) => URL.canParse(value) }))
    ),
    /** An authorization not answered within this is voided and treated as declined. */
    timeout: withDefault(Config.duration("PAYMENT_TIMEOUT"), Duration.seconds(10))
  }),
  sagas: Config.all({
    /** Run the process manager (the fulfilment saga) inside `serve`. */
    enabled: withDefault(Config.boolean("PROCESS_MANAGER"), true),
    /** A confirmed order not paid within this is cancelled (`reservation-expired`) and its stock released. */
    reservationTtl: withDefault(Config.duration("RESERVATION_TTL"), Duration.minutes(15)),
    /** One attempt of a saga step (other than a provider call, which has PAYMENT_TIMEOUT more). */
    stepTimeout: withDefault(Config.duration("SAGA_STEP_TIMEOUT"), Duration.seconds(10)),
    /** Attempts of a step, the first included, before it is parked for an operator (`sagas retry`). */
    maxAttempts: positiveInt("SAGA_MAX_ATTEMPTS", 8),
    /** The wait before a step's second attempt; each next one waits twice as long, up to SAGA_RETRY_MAX_DELAY. */
    retryBaseDelay: withDefault(Config.duration("SAGA_RETRY_BASE_DELAY"), Duration.seconds(1)),
    retryMaxDelay: withDefault(Config.duration("SAGA_RETRY_MAX_DELAY"), Duration.minutes(1)),
    /** How often the process manager looks for due steps and timers when nothing woke it. */
    pollInterval: withDefault(Config.duration("SAGA_POLL_INTERVAL"), Duration.seconds(1)),
    /** Sagas worked on at once by each process. */
    concurrency: positiveInt("SAGA_CONCURRENCY", 64),
    /** A finished saga's row leaves the index (`sagas list --all`) after this; its stream stays. */
    retention: withDefault(Config.duration("SAGA_RETENTION"), Duration.days(30)),
    /**
     * Fault injection for the test suite: `<step kind>:before` or `<step kind>:after` — the process
     * kills itself when a step of that kind is about to run, or has run and its result is not yet recorded.
     */
    crashAt: Config.option(
      Config.string("SAGA_CRASH_AT").pipe(Config.validate({
        message: "must be <step kind>:before or <step kind>:after",
        validation: (value) => /^[a-z-]+:(before|after)$/.test(value)
      }))
    )
  }),
  /**
   * This node as a runner of the cluster (`serve`): where the other nodes reach it. Every node of a
   * cluster uses the same database; each aggregate is decided on the node that owns its shard.
   */
  cluster: Config.all({
    /**
     * false: no runner; this process decides every aggregate itself, and several such processes are
     * kept apart only by the version guard (conflicts and retries). The cluster benchmark's floor.
     */
    enabled: withDefault(Config.boolean("CLUSTER"), true),
    /** The host the other nodes reach this one at (its name in the cluster: unique, and reachable from them). */
    runnerHost: withDefault(Config.nonEmptyString("CLUSTER_RUNNER_HOST"), "127.0.0.1"),
    /** The runner's port; 0: any free port (the advertised address follows it). */
    runnerPort: opsPort("CLUSTER_RUNNER_PORT", 34431),
    /** The address the runner binds, when not the advertised host (0.0.0.0 in a container, say). */
    listenHost: Config.option(Config.nonEmptyString("CLUSTER_LISTEN_HOST")),
    /**
     * The same database by another route, for the runner's registry and shard locks (DATABASE_URL
     * unless set): shard locks are session state, so this route must not pass a pooler in
     * transaction mode, which DATABASE_URL may.
     */
    databaseUrl: Config.option(Config.redacted("CLUSTER_DATABASE_URL").pipe(
      Config.validate({ message: "must be a URL", validation: (value) => URL.canParse(Redacted.value(value)) })
    ))
  }),
  /**
   * An operator's override of the events between snapshots that each aggregate declares (`snapshots.every`
   * in its definition), for every type; 0 switches snapshots off. Unset: each aggregate's own.
   * SNAPSHOT_EVERY_<TYPE> overrides it for one type.
   */
  snapshotEvery: Config.option(
    Config.integer("SNAPSHOT_EVERY").pipe(Config.validate({ message: "must be a whole number, 0 or more", validation: (n) => n >= 0 }))
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
  /** Overrides the events between snapshots the aggregate declares; 0: none. Unset: the aggregate's own. */
  readonly snapshotEvery?: number
}

export class AppConfig extends Context.Tag("app/AppConfig")<AppConfig, AppConfigShape>() {
  /** Reads the environment once; a ConfigError names the variable and what is wrong with it. */
  static readonly layer = Layer.effect(AppConfig, Effect.flatMap(appConfig, Effect.succeed))
}
