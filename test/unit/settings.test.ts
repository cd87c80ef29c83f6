/**
 * A bad value of any setting stops start-up naming its variable and what a good value looks like,
 * with the credentials of a URL hidden; `actors` prints that as one line. The table below must list
 * exactly the variables the config module reads, so that a new setting gets a bad value tried here.
 */
import { describe, expect, it } from "vitest"
import { Cause, ConfigError, ConfigProvider, ConfigProviderPathPatch, Effect, Exit, HashSet, Option } from "effect"
import { appConfig, configProblems } from "../../src/config.js"

/** A value each setting refuses; null where no value is wrong (a name, an issuer, a token: any text). */
const badValues: Readonly<Record<string, string | null>> = {
  PORT: "0",
  HTTP_MAX_BODY_BYTES: "64k",
  CORS_ORIGINS: "shop.example.com",
  HTTP_TRUST_PROXY: "maybe",
  HTTP_ACCESS_LOG: "loud",
  AUTH_MODE: "ldap",
  AUTH_JWKS_URL: "id.example.com/jwks.json",
  AUTH_PUBLIC_KEYS_FILE: null,
  AUTH_ISSUER: null,
  AUTH_AUDIENCE: null,
  AUTH_ROLES_CLAIM: null,
  AUTH_CLOCK_SKEW: "30s",
  AUTH_JWKS_COOLDOWN: "soon",
  AUTH_JWKS_CACHE_MAX_AGE: "10",
  AUTH_DEV_KEY_FILE: null,
  NODE_ENV: null,
  RATE_LIMIT_PER_SECOND: "-1",
  RATE_LIMIT_BURST: "2.5",
  RATE_LIMIT_ANONYMOUS_PER_SECOND: "none",
  RATE_LIMIT_ANONYMOUS_BURST: "0",
  OPS_PORT: "65536",
  OPS_HOST: "local host",
  DATABASE_URL: "db.internal:5432/actors",
  PG_MAX_CONNECTIONS: "twenty",
  PG_STATEMENT_TIMEOUT: "30",
  PG_IDLE_IN_TRANSACTION_TIMEOUT: "forever",
  APPEND_TIMEOUT: "5 parsecs",
  IDEMPOTENCY_RETENTION: "1d",
  KAFKA_BROKERS: "kafka-1",
  KAFKA_TOPIC_PARTITIONS: "0",
  KAFKA_REPLICATION_FACTOR: "three",
  MESSAGING_PREFIX: "staging/",
  OUTBOX_RELAY: "enabled",
  RELAY_PORT: "-1",
  OUTBOX_BATCH_SIZE: "1e3",
  OUTBOX_POLL_INTERVAL: "1 sec",
  OUTBOX_RETENTION: "a day",
  OUTBOX_CRASH_AFTER_PUBLISH: "everything",
  AMQP_URL: "http://rabbit:5672",
  PROJECTOR: "2",
  PROJECTOR_PORT: "http",
  PROJECTION_LAG_WARNING: "200ms",
  PUSH_GATEWAY_URL: "push.example.com/v1/push",
  PUSH_GATEWAY_TOKEN: null,
  WORKER_PREFETCH: "0",
  WORKER_CONCURRENCY: "many",
  PUSH_TIMEOUT: "5",
  WORKER_MAX_ATTEMPTS: "-5",
  WORKER_RETRY_BASE_DELAY: "1 s",
  WORKER_PORT: "99999",
  WORKER_SWEEP_INTERVAL: "often",
  WORKER_SWEEP_GRACE: "",
  WORKER_SWEEP_BATCH: "",
  WORKER_DELIVERY_RETENTION: "7",
  WORKER_CRASH_BEFORE_ACK: "sometimes",
  WORKER_CRASH_AFTER_PUSH: "y",
  PAYMENT_PROVIDER_URL: "ftp://payments.example.com",
  PAYMENT_TIMEOUT: "10 secs please",
  PROCESS_MANAGER: "disabled",
  RESERVATION_TTL: "quarter hour",
  SAGA_STEP_TIMEOUT: "10sec",
  SAGA_MAX_ATTEMPTS: "eight",
  SAGA_RETRY_BASE_DELAY: "1",
  SAGA_RETRY_MAX_DELAY: "1 min",
  SAGA_POLL_INTERVAL: "1000",
  SAGA_CONCURRENCY: "0",
  SAGA_RETENTION: "30 d",
  SAGA_CRASH_AT: "reserve-stock",
  CLUSTER: "cluster",
  CLUSTER_RUNNER_HOST: "node 1",
  CLUSTER_RUNNER_PORT: "port",
  CLUSTER_LISTEN_HOST: "0.0.0.0:34431",
  CLUSTER_DATABASE_URL: "mysql://db/actors",
  SNAPSHOT_EVERY: "-1",
  CONSOLE_TRACE_URL: "http://127.0.0.1:16686/trace/",
  CONSOLE_OIDC_CLIENT_ID: null,
  CONSOLE_OIDC_CLIENT_SECRET: null,
  CONSOLE_OIDC_REDIRECT_URL: "console.example.com/console/sign-in/callback",
  CONSOLE_OIDC_SCOPE: null,
  LOG_LEVEL: "verbose",
  ACTOR_MAILBOX_CAPACITY: "0",
  ACTOR_IDLE_TIMEOUT: "5 mins",
  ACTOR_MAX_LIVE: "unlimited",
  ACTOR_CONFLICT_RETRIES: "-1"
}

/** Every variable the config module reads: a provider that records what it is asked for and has nothing. */
const variablesRead = () => {
  const read = new Set<string>()
  const recording = ConfigProvider.fromFlat(ConfigProvider.makeFlat({
    load: (path) => {
      read.add(path.join("_"))
      return Effect.fail(ConfigError.MissingData([...path], "not set"))
    },
    enumerateChildren: () => Effect.succeed(HashSet.empty()),
    patch: ConfigProviderPathPatch.empty
  }))
  Effect.runSync(appConfig.pipe(Effect.withConfigProvider(recording)))
  return [...read].sort()
}

const read = (env: Record<string, string>) =>
  Effect.runSyncExit(appConfig.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))))

/** The ConfigError reading `env` failed with. */
const refusal = (env: Record<string, string>) => {
  const exit = read(env)
  if (Exit.isSuccess(exit)) throw new Error(`${JSON.stringify(env)} was accepted`)
  return Option.getOrThrow(Cause.failureOption(exit.cause))
}

describe("settings", () => {
  it("the table lists exactly the variables the config module reads", () => {
    expect(Object.keys(badValues).sort()).toEqual(variablesRead())
  })

  it.each(Object.entries(badValues).filter((entry): entry is [string, string] => entry[1] !== null))(
    "a bad %s is refused by name, saying what a good value looks like",
    (name, bad) => {
      const error = refusal({ [name]: bad })
      expect(String(error)).toContain(name)
      const [line, ...more] = configProblems(error)
      expect(more).toEqual([])
      expect(line).toMatch(new RegExp(`^${name}: (must|may) `))
      expect(line!.endsWith(`, got ${JSON.stringify(bad)}`), line).toBe(true)
    }
  )

  it.each(Object.entries(badValues).filter(([, bad]) => bad === null).map(([name]) => name))("%s takes any text", (name) => {
    expect(Exit.isSuccess(read({ [name]: "any text at all / 42" }))).toBe(true)
  })

  it("the good values of the table's kinds pass, as the defaults do", () => {
    expect(Exit.isSuccess(read({}))).toBe(true)
    expect(Exit.isSuccess(read({
      PORT: "8080",
      OPS_PORT: "0",
      CORS_ORIGINS: "https://shop.example.com, http://localhost:5173",
      HTTP_ACCESS_LOG: "none",
      LOG_LEVEL: "Debug",
      HTTP_TRUST_PROXY: "yes",
      DATABASE_URL: "postgresql://app:secret@db.internal:5432/actors",
      AMQP_URL: "amqps://rabbit.internal",
      KAFKA_BROKERS: "kafka-1:9092, kafka-2:9092,[::1]:9092",
      MESSAGING_PREFIX: "staging.",
      CLUSTER_LISTEN_HOST: "::",
      SNAPSHOT_EVERY: "0",
      SAGA_CRASH_AT: "reserve-stock:after",
      PG_STATEMENT_TIMEOUT: "1.5 seconds"
    }))).toBe(true)
  })

  it("an empty host or file name is no value: the default applies", () => {
    const exit = read({ OPS_HOST: "", AUTH_ROLES_CLAIM: " ", AUTH_ISSUER: "" })
    expect(Exit.isSuccess(exit) && [exit.value.ops.host, exit.value.auth.rolesClaim, Option.isNone(exit.value.auth.issuer)])
      .toEqual(["127.0.0.1", "roles", true])
  })

  it("a URL's password is never quoted back", () => {
    for (const name of ["DATABASE_URL", "AMQP_URL", "CLUSTER_DATABASE_URL"]) {
      for (const bad of ["mysql://app:s3cret@db/actors", "app:s3cret@db:5432/actors", "redis://app:s3/cr@t@db", "postgres:// host/db?password=s3cret"]) {
        const [line] = configProblems(refusal({ [name]: bad }))
        expect(line).toMatch(new RegExp(`^${name}: must be `))
        expect(line).not.toContain("s3")
      }
    }
    expect(configProblems(refusal({ DATABASE_URL: "mysql://app:s3cret@db/actors" })))
      .toEqual(['DATABASE_URL: must be a postgres:// or postgresql:// URL, got "mysql://app:***@db/actors"'])
  })

  it("several bad settings: a line each", () => {
    expect(configProblems(refusal({ PORT: "http", LOG_LEVEL: "loud", PUSH_TIMEOUT: "5" })).map((line) => line.split(":")[0]).sort())
      .toEqual(["LOG_LEVEL", "PORT", "PUSH_TIMEOUT"])
  })
})
