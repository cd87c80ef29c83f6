/**
 * Every setting of the project, read once from the environment and validated, with the defaults of
 * the design. A bad value stops start-up with a message naming the variable.
 */
import { Config, ConfigError, Context, Duration, Effect, Either, Layer, LogLevel, Option, Redacted } from "effect"
import { isIP } from "node:net"

/**
 * How a setting's text becomes its value. `expected` says what a good value looks like: a bad one
 * is refused with it and the value received (`must be a whole number above 0, got "0"`).
 */
export interface Kind<A> {
  readonly expected: string
  readonly parse: (text: string) => Option.Option<A>
  /** An empty value counts as not set (the default applies), as for the names of hosts and files. */
  readonly emptyIsUnset?: boolean
}

export const kind = <A>(expected: string, parse: (text: string) => Option.Option<A>, emptyIsUnset = false): Kind<A> => ({
  expected,
  parse,
  emptyIsUnset
})

/**
 * A value as an error quotes it back: credentials in a URL hidden (`postgres://app:***@db/orders`),
 * and no longer than a line.
 */
export const quoted = (text: string) => {
  const hidden = text
    .replace(/^((?:[A-Za-z][A-Za-z0-9+.-]*:\/\/)?[^/?#@:\s]*):.*@/, "$1:***@")
    .replace(/(password=)[^&\s]*/gi, "$1***")
  return JSON.stringify(hidden.length > 100 ? `${hidden.slice(0, 100)}…` : hidden)
}

/**
 * The setting in the environment variable `name`. Every setting is declared through this: the
 * value is checked on the variable itself, before a default or an option applies, because Effect
 * reports a check made after those (or after a `Config.map`) at an empty path, without the name.
 * So a bad value fails with a ConfigError at `name`, saying what a good value looks like.
 */
export const setting = <A>(name: string, of: Kind<A>): Config.Config<A> =>
  Config.string(name).pipe(
    Config.mapOrFail((text) =>
      of.emptyIsUnset === true && text.trim() === ""
        ? Either.left(ConfigError.MissingData([], `${name} is empty`))
        : Either.fromOption(of.parse(text), () => ConfigError.InvalidData([], `${of.expected}, got ${quoted(text)}`))
    )
  )

/**
 * One line per bad setting, `NAME: what is wrong`: what start-up prints instead of the ConfigError's
 * own rendering (`(Invalid data at NAME: "…")`).
 */
export const configProblems = (error: ConfigError.ConfigError): ReadonlyArray<string> => {
  const lines = (error: ConfigError.ConfigError): ReadonlyArray<string> => {
    switch (error._op) {
      case "And":
        return [...lines(error.left), ...lines(error.right)]
      case "Or":
        return [[...new Set([...lines(error.left), ...lines(error.right)])].join(" or ")]
      case "MissingData":
        return [named(error.path, "is not set")]
      default:
        return [named(error.path, error.message)]
    }
  }
  // A check made outside `setting` may have lost the name: then the reason alone.
  const named = (path: ReadonlyArray<string>, reason: string) => (path.length === 0 ? reason : `${path.join("_")}: ${reason}`)
  return [...new Set(lines(error))]
}

const withDefault = <A>(config: Config.Config<A>, fallback: A) => Config.withDefault(config, fallback)

/** Whole numbers of at least `min`, in decimal digits. */
const wholeNumber = (min: 0 | 1) =>
  kind(
    min === 0 ? "must be a whole number, 0 or more" : "must be a whole number above 0",
    (text) => (/^\s*\d+\s*$/.test(text) && Number(text) >= min ? Option.some(Number(text)) : Option.none())
  )

const numberAboveZero = kind("must be a number above 0", (text) => {
  const n = text.trim() === "" ? Number.NaN : Number(text)
  return Number.isFinite(n) && n > 0 ? Option.some(n) : Option.none()
})

/** A port to listen on; `anyFree` allows 0, any free port (the process logs the one it got). */
const portNumber = (anyFree: boolean) =>
  kind(anyFree ? "must be a port number (1 to 65535), or 0 for any free port" : "must be a port number, 1 to 65535", (text) =>
    /^\s*\d+\s*$/.test(text) && Number(text) >= (anyFree ? 0 : 1) && Number(text) <= 65_535 ? Option.some(Number(text)) : Option.none())

const duration = kind(
  "must be a duration such as \"500 millis\", \"30 seconds\" or \"5 minutes\"",
  (text) => Duration.decodeUnknown(text.trim())
)

const boolean = kind("must be true or false (or yes/no, on/off, 1/0)", (text) => {
  const value = text.trim().toLowerCase()
  return ["true", "yes", "on", "1"].includes(value)
    ? Option.some(true)
    : ["false", "no", "off", "0"].includes(value)
    ? Option.some(false)
    : Option.none()
})

const oneOf = <const L extends ReadonlyArray<string>>(...choices: L) =>
  kind(
    `must be ${choices.length === 2 ? choices.join(" or ") : `one of ${choices.join(", ")}`}`,
    (text) => Option.fromNullable(choices.find((choice) => choice === text.trim()) as L[number] | undefined)
  )

const logLevelNames = LogLevel.allLevels.map((level) => level.label.toLowerCase())

const logLevel = kind(
  `must be a log level: ${logLevelNames.join(", ")}`,
  (text) => Option.fromNullable(LogLevel.allLevels.find((level) => level.label === text.trim().toUpperCase()))
)

/** `none` (no line at all) or a log level. */
const accessLogLevel = kind<LogLevel.LogLevel | "none">(
  `must be none or a log level: ${logLevelNames.join(", ")}`,
  (text) => (text.trim().toLowerCase() === "none" ? Option.some("none") : logLevel.parse(text))
)

/** Any text but the empty one, which is no value (the name of a file, an issuer). */
const text = kind("must not be empty", (text) => Option.some(text), true)

/** Any text, the empty one included: no value of it is wrong. */
const anyText = kind("may be any text", (text) => Option.some(text))

/** A host name, an IPv4 address or an IPv6 one (`::` binds every interface). */
const host = kind(
  "must be a host name or an IP address, such as 127.0.0.1 or node-1.internal",
  (text) => Option.liftPredicate(text.trim(), (name) => isIP(name) !== 0 || /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(name)),
  true
)

/** A URL starting with one of these schemes and `//` (a loose `postgres:/db` parses too), as written. */
const urlOf = (...schemes: ReadonlyArray<string>) =>
  kind(
    `must be ${/^[aeiouh]/.test(schemes[0]!) ? "an" : "a"} ${schemes.map((scheme) => `${scheme}://`).join(" or ")} URL`,
    (text) =>
      Option.liftPredicate(text.trim(), (url) =>
        schemes.some((scheme) => url.toLowerCase().startsWith(`${scheme}://`)) && URL.canParse(url))
  )

const postgresUrl = urlOf("postgres", "postgresql")
const amqpUrl = urlOf("amqp", "amqps")
const httpUrl = urlOf("http", "https")

/** Text matching `pattern`. */
const matching = (pattern: RegExp, expected: string) =>
  kind(expected, (text) => (pattern.test(text) ? Option.some(text) : Option.none()))

/** A comma-separated list; empty entries are dropped. */
const commaList = (expected: string, valid: (entry: string) => boolean, allowEmpty: boolean) =>
  kind(expected, (text) => {
    const entries = text.split(",").map((part) => part.trim()).filter((part) => part.length > 0)
    return (allowEmpty || entries.length > 0) && entries.every(valid) ? Option.some(entries) : Option.none()
  })

const brokers = commaList(
  "must list brokers as host:port, separated by commas (such as kafka-1:9092,kafka-2:9092)",
  (entry) => /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):\d{1,5}$/.test(entry),
  false
)

const origins = commaList(
  "must list origins such as https://shop.example.com, separated by commas",
  (origin) => URL.canParse(origin) && new URL(origin).origin === origin,
  true
)

const positiveInt = (name: string, fallback: number) => withDefault(setting(name, wholeNumber(1)), fallback)

const positiveNumber = (name: string, fallback: number) => withDefault(setting(name, numberAboveZero), fallback)

/** A URL that may carry credentials: kept Redacted, so that it is never logged. */
const secretUrl = (name: string, of: Kind<string>, fallback: string) =>
  withDefault(setting(name, of).pipe(Config.map((value) => Redacted.make(value))), Redacted.make(fallback))

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
  mode: Config.option(setting("AUTH_MODE", oneOf("jwks", "keys", "dev"))),
  jwksUrl: Config.option(setting("AUTH_JWKS_URL", httpUrl).pipe(Config.map((value) => new URL(value)))),
  publicKeysFile: Config.option(setting("AUTH_PUBLIC_KEYS_FILE", text)),
  issuer: Config.option(setting("AUTH_ISSUER", text)),
  audience: Config.option(setting("AUTH_AUDIENCE", text)),
  rolesClaim: withDefault(setting("AUTH_ROLES_CLAIM", text), "roles"),
  clockSkew: withDefault(setting("AUTH_CLOCK_SKEW", duration), Duration.seconds(30)),
  jwksCooldown: withDefault(setting("AUTH_JWKS_COOLDOWN", duration), Duration.seconds(30)),
  jwksCacheMaxAge: withDefault(setting("AUTH_JWKS_CACHE_MAX_AGE", duration), Duration.minutes(10)),
  devKeyFile: withDefault(setting("AUTH_DEV_KEY_FILE", text), ".data/auth/dev-signing-key.json"),
  production: withDefault(setting("NODE_ENV", anyText), "").pipe(Config.map((env) => env === "production"))
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

const opsPort = (name: string, fallback: number) => withDefault(setting(name, portNumber(true)), fallback)

const rateLimit = (prefix: string, perSecond: number, burst: number) =>
  Config.all({
    perSecond: positiveNumber(`${prefix}_PER_SECOND`, perSecond),
    burst: positiveInt(`${prefix}_BURST`, burst)
  })

export const appConfig = Config.all({
  http: Config.all({
    port: withDefault(setting("PORT", portNumber(false)), 3000),
    /** Request bodies above this many bytes get 413. */
    maxBodyBytes: positiveInt("HTTP_MAX_BODY_BYTES", 64 * 1024),
    /** Browser origins allowed to call the API (CORS); none by default, and then no CORS headers at all. */
    corsOrigins: withDefault(setting("CORS_ORIGINS", origins), []),
    /**
     * Behind a proxy, a caller's address is the last one the proxy adds to X-Forwarded-For; only
     * set this when a proxy you run sets that header, or callers can pick their own address.
     */
    trustProxy: withDefault(setting("HTTP_TRUST_PROXY", boolean), false),
    /** The level of the one access-log line each request gets; `none` writes none. */
    accessLogLevel: withDefault(
      setting("HTTP_ACCESS_LOG", accessLogLevel),
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
    host: withDefault(setting("OPS_HOST", host), "127.0.0.1")
  }),
  database: Config.all({
    url: secretUrl("DATABASE_URL", postgresUrl, "postgres://postgres:postgres@127.0.0.1:5432/actors"),
    maxConnections: positiveInt("PG_MAX_CONNECTIONS", 20),
    /** The server cancels a statement running longer; the client gives up on a reply 2 s after that. */
    statementTimeout: withDefault(setting("PG_STATEMENT_TIMEOUT", duration), Duration.seconds(30)),
    /** The server ends a session left idle inside a transaction for longer. */
    idleInTransactionTimeout: withDefault(setting("PG_IDLE_IN_TRANSACTION_TIMEOUT", duration), Duration.seconds(30)),
    /**
     * An append not answered within this has lost its reply: it is resolved by its event ids, and
     * reported as of unknown outcome when that fails too.
     */
    appendTimeout: withDefault(setting("APPEND_TIMEOUT", duration), Duration.seconds(5)),
    /** Idempotency keys are kept this long: a retry within it gets the first answer; after it, it is a new request. */
    idempotencyRetention: withDefault(setting("IDEMPOTENCY_RETENTION", duration), Duration.hours(24))
  }),
  kafka: Config.all({
    brokers: withDefault(setting("KAFKA_BROKERS", brokers), ["127.0.0.1:9092"]),
    /** Partitions of each `<stream type>.events` topic the runtime creates (an aggregate stays in one). */
    topicPartitions: positiveInt("KAFKA_TOPIC_PARTITIONS", 3),
    replicationFactor: positiveInt("KAFKA_REPLICATION_FACTOR", 1)
  }),
  /**
   * Put before every topic, exchange and queue name (`staging.` gives `staging.order.events`), so
   * that several deployments, or test runs, can share brokers. Empty by default.
   */
  messagingPrefix: withDefault(
    setting("MESSAGING_PREFIX", matching(/^[A-Za-z0-9._-]*$/, "may hold only letters, digits, '.', '_' and '-' (such as staging.)")),
    ""
  ),
  outbox: Config.all({
    /** Run the relay inside `serve` (it can also run alone: `relay`). */
    relayEnabled: withDefault(setting("OUTBOX_RELAY", boolean), true),
    /** Port of the ops server (/health, /ready, /metrics) of a standalone `relay` (0: any free port, logged at start). */
    port: opsPort("RELAY_PORT", 3002),
    /** Rows published per broker round trip. */
    batchSize: positiveInt("OUTBOX_BATCH_SIZE", 2000),
    /** The relay is woken by NOTIFY at each commit; it also looks this often, in case one was missed. */
    pollInterval: withDefault(setting("OUTBOX_POLL_INTERVAL", duration), Duration.seconds(1)),
    /** Delivered rows are kept this long (for inspection), then deleted. */
    retention: withDefault(setting("OUTBOX_RETENTION", duration), Duration.hours(24)),
    /**
     * Fault injection for the test suite: the relay's process kills itself right after publishing a
     * batch to this destination (`events` or `notifications`), before marking it delivered.
     */
    crashAfterPublish: Config.option(setting("OUTBOX_CRASH_AFTER_PUBLISH", oneOf("events", "notifications")))
  }),
  amqp: Config.all({
    url: secretUrl("AMQP_URL", amqpUrl, "amqp://guest:guest@127.0.0.1:5672")
  }),
  projections: Config.all({
    /** Run the projector inside `serve` (it can also run alone: `project`). */
    projectorEnabled: withDefault(setting("PROJECTOR", boolean), true),
    /** Port of the ops server (/health, /ready, /metrics) of a standalone `project` (0: any free port, logged at start). */
    port: opsPort("PROJECTOR_PORT", 3003),
    /**
     * The projection lag target (event recorded → row written): a row later than this counts as a
     * breach (projection_lag_breaches_total), and crossing it is logged as a warning.
     */
    lagWarning: withDefault(setting("PROJECTION_LAG_WARNING", duration), Duration.millis(200))
  }),
  /** Where workers POST notifications; `worker` refuses to start without it. */
  pushGatewayUrl: Config.option(
    setting("PUSH_GATEWAY_URL", httpUrl)
  ),
  /** Sent to the push gateway as `Authorization: Bearer <token>` when set. */
  pushGatewayToken: Config.option(setting("PUSH_GATEWAY_TOKEN", anyText).pipe(Config.map((token) => Redacted.make(token)))),
  worker: Config.all({
    /** Tasks RabbitMQ hands one worker process before it has acked them. */
    prefetch: positiveInt("WORKER_PREFETCH", 256),
    /** Tasks one worker process handles at the same time. */
    concurrency: positiveInt("WORKER_CONCURRENCY", 64),
    /** A push not answered within this time failed (and may be retried). */
    pushTimeout: withDefault(setting("PUSH_TIMEOUT", duration), Duration.seconds(5)),
    /** Attempts per task, the first included; then it goes to the dead-letter queue. */
    maxAttempts: positiveInt("WORKER_MAX_ATTEMPTS", 5),
    /** The wait before the first retry; each next one waits twice as long. */
    retryBaseDelay: withDefault(setting("WORKER_RETRY_BASE_DELAY", duration), Duration.seconds(1)),
    /** Port of the worker's ops server (/health, /ready, /metrics) (0: any free port, logged at start). */
    port: opsPort("WORKER_PORT", 3001),
    /** How often each worker's sweeper looks for deliveries stuck past their due time. */
    sweepInterval: withDefault(setting("WORKER_SWEEP_INTERVAL", duration), Duration.seconds(10)),
    /**
     * A delivery still unsettled this long after it was due back (its claim ran out, or its retry
     * wait ended) lost its message: the sweeper publishes its task again, and again after as long.
     */
    sweepGrace: withDefault(setting("WORKER_SWEEP_GRACE", duration), Duration.seconds(30)),
    /** Deliveries one sweep takes at most. */
    sweepBatch: positiveInt("WORKER_SWEEP_BATCH", 500),
    /** Settled delivery records are deleted after this; a duplicate task within it is recognised and dropped. */
    deliveryRetention: withDefault(setting("WORKER_DELIVERY_RETENTION", duration), Duration.days(7)),
    /** Fault injection for the test suite: the worker kills itself after recording a push, before the ack. */
    crashBeforeAck: withDefault(setting("WORKER_CRASH_BEFORE_ACK", boolean), false),
    /** Fault injection for the test suite: the worker kills itself right after a push, before recording it. */
    crashAfterPush: withDefault(setting("WORKER_CRASH_AFTER_PUSH", boolean), false)
  }),
  payments: Config.all({
    /** The payment provider's base URL (`make payment-sink` serves a local stand-in); without it, payment steps fail and wait. */
    providerUrl: Config.option(
      setting("PAYMENT_PROVIDER_URL", httpUrl)
    ),
    /** An authorization not answered within this is voided and treated as declined. */
    timeout: withDefault(setting("PAYMENT_TIMEOUT", duration), Duration.seconds(10))
  }),
  sagas: Config.all({
    /** Run the process manager (the fulfilment saga) inside `serve`. */
    enabled: withDefault(setting("PROCESS_MANAGER", boolean), true),
    /** A confirmed order not paid within this is cancelled (`reservation-expired`) and its stock released. */
    reservationTtl: withDefault(setting("RESERVATION_TTL", duration), Duration.minutes(15)),
    /** One attempt of a saga step (other than a provider call, which has PAYMENT_TIMEOUT more). */
    stepTimeout: withDefault(setting("SAGA_STEP_TIMEOUT", duration), Duration.seconds(10)),
    /** Attempts of a step, the first included, before it is parked for an operator (`sagas retry`). */
    maxAttempts: positiveInt("SAGA_MAX_ATTEMPTS", 8),
    /** The wait before a step's second attempt; each next one waits twice as long, up to SAGA_RETRY_MAX_DELAY. */
    retryBaseDelay: withDefault(setting("SAGA_RETRY_BASE_DELAY", duration), Duration.seconds(1)),
    retryMaxDelay: withDefault(setting("SAGA_RETRY_MAX_DELAY", duration), Duration.minutes(1)),
    /** How often the process manager looks for due steps and timers when nothing woke it. */
    pollInterval: withDefault(setting("SAGA_POLL_INTERVAL", duration), Duration.seconds(1)),
    /** Sagas worked on at once by each process. */
    concurrency: positiveInt("SAGA_CONCURRENCY", 64),
    /** A finished saga's row leaves the index (`sagas list --all`) after this; its stream stays. */
    retention: withDefault(setting("SAGA_RETENTION", duration), Duration.days(30)),
    /**
     * Fault injection for the test suite: `<step kind>:before` or `<step kind>:after` — the process
     * kills itself when a step of that kind is about to run, or has run and its result is not yet recorded.
     */
    crashAt: Config.option(
      setting("SAGA_CRASH_AT", matching(/^[a-z-]+:(before|after)$/, "must be <step kind>:before or <step kind>:after"))
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
    enabled: withDefault(setting("CLUSTER", boolean), true),
    /** The host the other nodes reach this one at (its name in the cluster: unique, and reachable from them). */
    runnerHost: withDefault(setting("CLUSTER_RUNNER_HOST", host), "127.0.0.1"),
    /** The runner's port; 0: any free port (the advertised address follows it). */
    runnerPort: opsPort("CLUSTER_RUNNER_PORT", 34431),
    /** The address the runner binds, when not the advertised host (0.0.0.0 in a container, say). */
    listenHost: Config.option(setting("CLUSTER_LISTEN_HOST", host)),
    /**
     * The same database by another route, for the runner's registry and shard locks (DATABASE_URL
     * unless set): shard locks are session state, so this route must not pass a pooler in
     * transaction mode, which DATABASE_URL may.
     */
    databaseUrl: Config.option(setting("CLUSTER_DATABASE_URL", postgresUrl).pipe(Config.map((value) => Redacted.make(value))))
  }),
  /**
   * An operator's override of the events between snapshots that each aggregate declares (`snapshots.every`
   * in its definition), for every type; 0 switches snapshots off. Unset: each aggregate's own.
   * SNAPSHOT_EVERY_<TYPE> overrides it for one type.
   */
  snapshotEvery: Config.option(
    setting("SNAPSHOT_EVERY", wholeNumber(0))
  ),
  /** The web console at /console (src/console/). */
  console: Config.all({
    /**
     * A trace viewer's address for one trace, with `{traceId}` where the id goes
     * (`http://127.0.0.1:16686/trace/{traceId}` for a local Jaeger); unset: events show no trace link.
     */
    traceUrl: Config.option(
      setting(
        "CONSOLE_TRACE_URL",
        kind(
          "must be a URL with {traceId} where the trace id goes, such as http://127.0.0.1:16686/trace/{traceId}",
          (value) => Option.liftPredicate(value, (value) => value.includes("{traceId}") && URL.canParse(value.replace("{traceId}", "0")))
        )
      )
    ),
    /**
     * Sign-in with the identity provider (OpenID Connect, authorization code with PKCE), beside the
     * pasted token: on when the console has a client id at the provider (AUTH_ISSUER, which must then
     * be the provider's URL; src/console/oidc.ts checks that at start-up).
     */
    oidc: Config.all({
      clientId: Config.option(setting("CONSOLE_OIDC_CLIENT_ID", text)),
      /** A confidential client's secret, sent at the token endpoint; none for a public client. */
      clientSecret: Config.option(setting("CONSOLE_OIDC_CLIENT_SECRET", text).pipe(Config.map((secret) => Redacted.make(secret)))),
      /** Unset: `<scheme>://<Host>/console/sign-in/callback`, from each request. */
      redirectUrl: Config.option(setting("CONSOLE_OIDC_REDIRECT_URL", httpUrl)),
      scope: withDefault(setting("CONSOLE_OIDC_SCOPE", text), "openid")
    })
  }),
  logLevel: withDefault(setting("LOG_LEVEL", logLevel), LogLevel.Info),
  runtime: Config.all({
    /** Commands waiting per actor; one more is refused as Overloaded (503). */
    mailboxCapacity: positiveInt("ACTOR_MAILBOX_CAPACITY", 1024),
    /** Actors with no command for this long are passivated. */
    idleTimeout: withDefault(setting("ACTOR_IDLE_TIMEOUT", duration), Duration.minutes(5)),
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
