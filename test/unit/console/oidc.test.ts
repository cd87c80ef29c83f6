/**
 * Signing in with the identity provider, its pure part: which settings turn it on (and the ones
 * start-up refuses), PKCE, the signed flow cookie and the state, and the requests to the provider.
 */
import { createHash } from "node:crypto"
import { ConfigProvider, Effect, Either, Option, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { appConfig, resolveAuth } from "../../../src/config.js"
import {
  accessTokenOf,
  authorizationUrl,
  codeChallengeOf,
  discoveryUrl,
  type Flow,
  formTargetsOf,
  openFlow,
  parseDiscovery,
  providerName,
  randomToken,
  redirectUriFor,
  resolveOidcClient,
  sealFlow,
  tokenRequestFields
} from "../../../src/console/oidc.js"

const settingsOf = (env: Record<string, string>) => {
  const config = Effect.runSync(appConfig.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))))
  return { oidc: config.console.oidc, auth: Either.getOrThrow(resolveAuth(config.auth)) }
}

const provider = {
  AUTH_MODE: "jwks",
  AUTH_JWKS_URL: "https://id.example.com/jwks",
  AUTH_ISSUER: "https://id.example.com",
  AUTH_AUDIENCE: "orders-api"
}

describe("the provider sign-in's settings", () => {
  it("is off without a client id, and on with one and the API's provider settings; scope openid unless given", () => {
    const off = settingsOf(provider)
    expect(resolveOidcClient(off.oidc, off.auth)).toEqual(Either.right(undefined))
    const on = settingsOf({ ...provider, CONSOLE_OIDC_CLIENT_ID: "orders-console" })
    const client = Either.getOrThrow(resolveOidcClient(on.oidc, on.auth))
    expect(client).toMatchObject({ issuer: "https://id.example.com", clientId: "orders-console", scope: "openid" })
    expect(Option.isNone(client!.clientSecret)).toBe(true)
    expect(Option.isNone(client!.redirectUrl)).toBe(true)
  })

  it("takes a secret (kept redacted), a redirect URL and a scope", () => {
    const on = settingsOf({
      ...provider,
      CONSOLE_OIDC_CLIENT_ID: "orders-console",
      CONSOLE_OIDC_CLIENT_SECRET: "s3cret",
      CONSOLE_OIDC_REDIRECT_URL: "https://console.example.com/console/sign-in/callback",
      CONSOLE_OIDC_SCOPE: "openid profile"
    })
    const client = Either.getOrThrow(resolveOidcClient(on.oidc, on.auth))!
    expect(Redacted.value(Option.getOrThrow(client.clientSecret))).toBe("s3cret")
    expect(String(Option.getOrThrow(client.clientSecret))).not.toContain("s3cret")
    expect(client.redirectUrl).toEqual(Option.some("https://console.example.com/console/sign-in/callback"))
    expect(client.scope).toBe("openid profile")
  })

  it("refuses, naming the variables, development keys or an issuer that is not a URL", () => {
    const dev = settingsOf({ CONSOLE_OIDC_CLIENT_ID: "orders-console" })
    expect(Either.getLeft(resolveOidcClient(dev.oidc, dev.auth))).toEqual(
      Option.some(expect.stringMatching(/AUTH_MODE=jwks.*AUTH_MODE=keys.*AUTH_ISSUER/))
    )
    const urn = settingsOf({ ...provider, AUTH_ISSUER: "urn:orders", CONSOLE_OIDC_CLIENT_ID: "orders-console" })
    expect(Either.getLeft(resolveOidcClient(urn.oidc, urn.auth))).toEqual(Option.some(expect.stringMatching(/AUTH_ISSUER.*urn:orders/)))
  })

  it("refuses a redirect URL that is not http(s), at the variable", () => {
    const exit = Effect.runSyncExit(appConfig.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["CONSOLE_OIDC_REDIRECT_URL", "ftp://x"]])))))
    expect(String(exit)).toContain("CONSOLE_OIDC_REDIRECT_URL")
  })
})

describe("PKCE, the flow cookie and the state", () => {
  it("a verifier is 32 random bytes in base64url; its challenge is base64url(SHA-256(verifier))", () => {
    const verifier = randomToken()
    expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(randomToken()).not.toBe(verifier)
    expect(codeChallengeOf(verifier)).toBe(createHash("sha256").update(verifier).digest("base64url"))
    // RFC 7636, appendix B.
    expect(codeChallengeOf("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")).toBe("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
  })

  const key = "sign-in-token-of-this-browser-00"
  const flow: Flow = { state: randomToken(), verifier: randomToken(), next: "/console/orders/1", expiresAt: 2_000 }
  const sealed = sealFlow(flow, key)

  it("opens with its key, before its expiry, for the state it holds", () => {
    expect(openFlow(sealed, key, flow.state, 1_000)).toEqual(Either.right(flow))
  })

  it("refuses a missing cookie or key, another key, a changed payload, an expired flow and another state", () => {
    const kind = (result: ReturnType<typeof openFlow>) => Either.isLeft(result) ? result.left.kind : "opened"
    expect(kind(openFlow(undefined, key, flow.state, 1_000))).toBe("missing")
    expect(kind(openFlow(sealed, undefined, flow.state, 1_000))).toBe("missing")
    expect(kind(openFlow(sealed, "another-browser's-sign-in-token", flow.state, 1_000))).toBe("forged")
    const [payload, mac] = sealed.split(".")
    const changed = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, "base64url").toString()), n: "/console/admin" })).toString("base64url")
    expect(kind(openFlow(`${changed}.${mac}`, key, flow.state, 1_000))).toBe("forged")
    expect(kind(openFlow(`${payload}`, key, flow.state, 1_000))).toBe("forged")
    expect(kind(openFlow(sealed, key, flow.state, 2_000))).toBe("expired")
    expect(kind(openFlow(sealed, key, `${flow.state}x`, 1_000))).toBe("state")
    expect(kind(openFlow(sealed, key, undefined, 1_000))).toBe("state")
    // A flow cookie made for another browser names the reason so.
    expect(openFlow(sealed, "k", flow.state, 1_000)).toEqual(Either.left(expect.objectContaining({ reason: expect.stringMatching(/signature/) })))
  })
})

describe("the requests to the provider", () => {
  it("finds discovery below the issuer, and names the provider by its host", () => {
    expect(discoveryUrl("https://id.example.com")).toBe("https://id.example.com/.well-known/openid-configuration")
    expect(discoveryUrl("https://id.example.com/realms/shop/")).toBe("https://id.example.com/realms/shop/.well-known/openid-configuration")
    expect(providerName("https://id.example.com/realms/shop")).toBe("id.example.com")
    expect(providerName("http://127.0.0.1:4321")).toBe("127.0.0.1:4321")
  })

  it("takes the endpoints of a discovery document for this issuer only", () => {
    const document = { issuer: "https://id.example.com", authorization_endpoint: "https://id.example.com/authorize", token_endpoint: "https://id.example.com/token" }
    expect(parseDiscovery(document, "https://id.example.com")).toEqual(
      Either.right({ authorizationEndpoint: "https://id.example.com/authorize", tokenEndpoint: "https://id.example.com/token" })
    )
    expect(Either.isLeft(parseDiscovery(document, "https://other.example.com"))).toBe(true)
    expect(Either.isLeft(parseDiscovery({ ...document, token_endpoint: "javascript:alert(1)" }, "https://id.example.com"))).toBe(true)
    expect(Either.isLeft(parseDiscovery("<html>", "https://id.example.com"))).toBe(true)
  })

  it("lets the sign-in page's form go to the issuer's origin and the authorization endpoint's (form-action)", () => {
    expect(formTargetsOf("https://id.example.com/realms/shop", undefined)).toEqual(["https://id.example.com"])
    expect(formTargetsOf("https://id.example.com", { authorizationEndpoint: "https://id.example.com/authorize", tokenEndpoint: "https://id.example.com/token" }))
      .toEqual(["https://id.example.com"])
    expect(formTargetsOf("https://cognito.example.com/pool", { authorizationEndpoint: "https://shop.auth.example.com/oauth2/authorize", tokenEndpoint: "https://shop.auth.example.com/oauth2/token" }))
      .toEqual(["https://cognito.example.com", "https://shop.auth.example.com"])
  })

  it("derives the redirect URI from the request unless configured; a trusted proxy's scheme and host count", () => {
    expect(redirectUriFor(Option.none(), { host: "console.test:3000" }, false)).toBe("http://console.test:3000/console/sign-in/callback")
    const proxied = { host: "10.0.0.5:3000", "x-forwarded-proto": "https", "x-forwarded-host": "console.example.com" }
    expect(redirectUriFor(Option.none(), proxied, false)).toBe("http://10.0.0.5:3000/console/sign-in/callback")
    expect(redirectUriFor(Option.none(), proxied, true)).toBe("https://console.example.com/console/sign-in/callback")
    expect(redirectUriFor(Option.some("https://fixed.example.com/cb"), proxied, true)).toBe("https://fixed.example.com/cb")
  })

  it("asks for a code with PKCE S256, keeping the endpoint's own query", () => {
    const url = new URL(authorizationUrl("https://id.example.com/authorize?tenant=shop", {
      clientId: "orders-console",
      redirectUri: "http://console.test/console/sign-in/callback",
      scope: "openid",
      state: "the-state",
      verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    }))
    expect(Object.fromEntries(url.searchParams)).toEqual({
      tenant: "shop",
      response_type: "code",
      client_id: "orders-console",
      redirect_uri: "http://console.test/console/sign-in/callback",
      scope: "openid",
      state: "the-state",
      code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
      code_challenge_method: "S256"
    })
  })

  it("exchanges the code with the verifier; a confidential client's secret goes along", () => {
    const request = { code: "c", redirectUri: "http://x/cb", clientId: "orders-console", verifier: "v" }
    expect(tokenRequestFields({ ...request, clientSecret: undefined })).toEqual({
      grant_type: "authorization_code",
      code: "c",
      redirect_uri: "http://x/cb",
      client_id: "orders-console",
      code_verifier: "v"
    })
    expect(tokenRequestFields({ ...request, clientSecret: "s" })).toMatchObject({ client_secret: "s" })
  })

  it("takes the access token, or says what the token endpoint answered", () => {
    expect(accessTokenOf(200, { access_token: "jwt", token_type: "Bearer" })).toEqual(Either.right("jwt"))
    expect(accessTokenOf(200, { id_token: "jwt" })).toEqual(Either.left("200 without an access_token"))
    expect(accessTokenOf(400, { error: "invalid_grant", error_description: "PKCE verification failed" })).toEqual(
      Either.left("400 invalid_grant: PKCE verification failed")
    )
    expect(accessTokenOf(502, undefined)).toEqual(Either.left("502"))
  })
})
