/** Layers for tests: the application's own layers, pointed at this run's database. */
import { Effect, Layer, Option, Redacted } from "effect"
import { inject } from "vitest"
import { appConfig, AppConfig, type AppConfigShape } from "../../src/config.js"
import { authSettings } from "./auth.js"

export interface ConfigOverrides {
  readonly runtime?: Partial<AppConfigShape["runtime"]>
  readonly http?: Partial<AppConfigShape["http"]>
  readonly outbox?: Partial<AppConfigShape["outbox"]>
  readonly worker?: Partial<AppConfigShape["worker"]>
  readonly pushGatewayUrl?: string
  /** Another database than this run's shared one (a scratch database of a test's own). */
  readonly databaseUrl?: string
  readonly database?: Partial<Omit<AppConfigShape["database"], "url">>
  readonly messagingPrefix?: string
  readonly payments?: Partial<AppConfigShape["payments"]>
  readonly sagas?: Partial<AppConfigShape["sagas"]>
  readonly auth?: AppConfigShape["auth"]
  readonly rateLimits?: AppConfigShape["rateLimits"]
}

/** Limits no test reaches unless it means to. */
const unlimited = { perSecond: 1_000_000, burst: 1_000_000 }

/** The settings from the environment, with this run's database and a free HTTP port. */
export const testConfig = (overrides: ConfigOverrides = {}) =>
  Layer.effect(
    AppConfig,
    Effect.map(appConfig, (config): AppConfigShape => ({
      ...config,
      database: {
        ...config.database,
        url: Redacted.make(overrides.databaseUrl ?? inject("databaseUrl")),
        maxConnections: 8,
        ...overrides.database
      },
      // No access-log line per request in the tests' output (the tracing test's processes write them).
      http: { ...config.http, port: 0, accessLogLevel: "none", ...overrides.http },
      auth: overrides.auth ?? authSettings,
      rateLimits: overrides.rateLimits ?? { principal: unlimited, anonymous: unlimited },
      ops: { ...config.ops, port: 0 },
      runtime: { ...config.runtime, ...overrides.runtime },
      outbox: { ...config.outbox, ...overrides.outbox },
      worker: { ...config.worker, ...overrides.worker },
      payments: { ...config.payments, ...overrides.payments },
      sagas: { ...config.sagas, ...overrides.sagas },
      pushGatewayUrl: overrides.pushGatewayUrl === undefined ? config.pushGatewayUrl : Option.some(overrides.pushGatewayUrl),
      messagingPrefix: overrides.messagingPrefix ?? config.messagingPrefix
    }))
  ).pipe(Layer.orDie)

export const databaseUrl = () => inject("databaseUrl")
