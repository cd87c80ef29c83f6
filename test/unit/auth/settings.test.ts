/** Which keys verify tokens, from the AUTH_* settings; and the mistakes start-up refuses. */
import { describe, expect, it } from "vitest"
import { ConfigProvider, Effect, Either } from "effect"
import { appConfig, resolveAuth } from "../../../src/config.js"

const resolve = (env: Record<string, string>) =>
  Effect.runSync(appConfig.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))).auth

const settle = (env: Record<string, string>) => resolveAuth(resolve(env))

const provider = { AUTH_ISSUER: "https://id.example.com/", AUTH_AUDIENCE: "orders-api" }

describe("auth settings", () => {
  it("with none given: development keys, with the development issuer and audience", () => {
    expect(settle({})).toEqual(Either.right(expect.objectContaining({
      _tag: "Dev",
      keyFile: ".data/auth/dev-signing-key.json",
      issuer: "urn:event-sourced-actors:dev",
      audience: "event-sourced-actors",
      rolesClaim: "roles"
    })))
  })

  it("a JWKS URL alone chooses jwks mode; a keys file alone, keys mode", () => {
    const jwks = settle({ AUTH_JWKS_URL: "https://id.example.com/jwks.json", ...provider })
    expect(Either.getOrThrow(jwks)).toMatchObject({ _tag: "Jwks", issuer: provider.AUTH_ISSUER, audience: provider.AUTH_AUDIENCE })
    expect(Either.getOrThrow(settle({ AUTH_PUBLIC_KEYS_FILE: "keys.json", ...provider }))).toMatchObject({ _tag: "Keys", file: "keys.json" })
  })

  it("a provider's tokens are checked against its issuer and audience: both must be named", () => {
    const refused = settle({ AUTH_JWKS_URL: "https://id.example.com/jwks.json" })
    expect(Either.flip(refused)).toEqual(Either.right(expect.stringContaining("AUTH_ISSUER, AUTH_AUDIENCE")))
  })

  it("an explicit mode needs its own setting", () => {
    expect(Either.flip(settle({ AUTH_MODE: "keys", ...provider }))).toEqual(Either.right(expect.stringContaining("AUTH_PUBLIC_KEYS_FILE")))
    expect(Either.flip(settle({ AUTH_MODE: "jwks", ...provider }))).toEqual(Either.right(expect.stringContaining("AUTH_JWKS_URL")))
  })

  it("both sources without a mode are ambiguous; AUTH_MODE settles it", () => {
    const both = { AUTH_JWKS_URL: "https://id.example.com/jwks.json", AUTH_PUBLIC_KEYS_FILE: "keys.json", ...provider }
    expect(Either.flip(settle(both))).toEqual(Either.right(expect.stringContaining("AUTH_MODE")))
    expect(Either.getOrThrow(settle({ ...both, AUTH_MODE: "keys" }))._tag).toBe("Keys")
  })

  it("development keys are refused in production, explicitly chosen or not", () => {
    expect(Either.isLeft(settle({ NODE_ENV: "production" }))).toBe(true)
    expect(Either.flip(settle({ NODE_ENV: "production", AUTH_MODE: "dev" }))).toEqual(Either.right(expect.stringContaining("NODE_ENV=production")))
    expect(Either.isRight(settle({ NODE_ENV: "production", AUTH_PUBLIC_KEYS_FILE: "keys.json", ...provider }))).toBe(true)
  })

  it("an unknown mode or a URL that is not one stops start-up, naming the variable", () => {
    expect(() => resolve({ AUTH_MODE: "ldap" })).toThrow(/AUTH_MODE/)
    expect(() => resolve({ AUTH_JWKS_URL: "not a url" })).toThrow(/AUTH_JWKS_URL/)
  })
})
