/**
 * Who the benchmarks call the API as: one customer, with a token signed by a development key made
 * for the run (in a temporary directory, removed at the end). The service verifies every request
 * against that key, as it would a provider's, so verification is part of what is measured; its rate
 * limits are raised out of reach, so that they never throttle what is.
 */
import { Effect, Option } from "effect"
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { loadOrCreate, signToken } from "../../src/auth/devKeys.js"
import type { Role } from "../../src/auth/policy.js"
import { type AppConfigShape, devAudience, devIssuer } from "../../src/config.js"

export interface BenchAuth {
  /** The customer the token is for: the orders the benchmark places and works on are theirs. */
  readonly customerId: string
  /** `Authorization: Bearer <token>`, for every request to the service. */
  readonly headers: { readonly authorization: string }
  readonly keyFile: string
  /** The environment of a `serve` process that trusts the key, with its rate limits raised. */
  readonly env: Readonly<Record<string, string>>
}

const unlimited = 1_000_000

export const benchAuth = (name: string) =>
  Effect.gen(function*() {
    const directory = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(path.join(tmpdir(), `bench-${name}-auth-`))),
      (directory) => Effect.sync(() => rmSync(directory, { recursive: true, force: true }))
    )
    const keyFile = path.join(directory, "dev-signing-key.json")
    // Made here, before the service starts: it reads the same file instead of making its own.
    const { key } = yield* Effect.orDie(loadOrCreate(keyFile))
    const customerId = randomUUID()
    const token = yield* signToken(key, {
      issuer: devIssuer,
      audience: devAudience,
      subject: customerId,
      roles: ["customer"],
      rolesClaim: "roles",
      // Longer than any run.
      ttlSeconds: 24 * 3600
    })
    return {
      customerId,
      headers: { authorization: `Bearer ${token}` },
      keyFile,
      // Issuer and audience named, so that AUTH_* settings of the shell cannot make the token one it refuses.
      env: {
        AUTH_MODE: "dev",
        AUTH_DEV_KEY_FILE: keyFile,
        AUTH_ISSUER: devIssuer,
        AUTH_AUDIENCE: devAudience,
        AUTH_ROLES_CLAIM: "roles",
        RATE_LIMIT_PER_SECOND: String(unlimited),
        RATE_LIMIT_BURST: String(unlimited),
        RATE_LIMIT_ANONYMOUS_PER_SECOND: String(unlimited),
        RATE_LIMIT_ANONYMOUS_BURST: String(unlimited)
      }
    } satisfies BenchAuth
  })

/** The same for a server built in the benchmark's own process. */
export const withBenchAuth = (config: AppConfigShape, auth: BenchAuth): AppConfigShape => ({
  ...config,
  auth: {
    ...config.auth,
    mode: Option.some("dev"),
    jwksUrl: Option.none(),
    publicKeysFile: Option.none(),
    issuer: Option.some(devIssuer),
    audience: Option.some(devAudience),
    rolesClaim: "roles",
    devKeyFile: auth.keyFile
  },
  rateLimits: { principal: { perSecond: unlimited, burst: unlimited }, anonymous: { perSecond: unlimited, burst: unlimited } }
})

/**
 * `Authorization` for another principal, signed with the run's key: e.g. `staff`, who set stock
 * (`PUT /inventory/{sku}`), which a customer may not.
 */
export const headersFor = (auth: BenchAuth, role: Role, subject: string = randomUUID()) =>
  Effect.gen(function*() {
    const { key } = yield* Effect.orDie(loadOrCreate(auth.keyFile))
    const token = yield* signToken(key, {
      issuer: devIssuer,
      audience: devAudience,
      subject,
      roles: [role],
      rolesClaim: "roles",
      ttlSeconds: 24 * 3600
    })
    return { authorization: `Bearer ${token}` } as const
  })
