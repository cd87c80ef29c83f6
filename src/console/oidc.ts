/**
 * Signing in to the console with the identity provider: OpenID Connect's authorization-code flow
 * with PKCE (RFC 7636, S256). This module is the pure part: which client the settings describe, the
 * PKCE values, the signed cookie that carries the flow from its start to the provider's redirect
 * back, and the URLs and form bodies of the exchange. oidcProvider.ts talks to the provider;
 * routes.ts wires both to the pages.
 *
 * Nothing is kept on the server: the flow's state, PKCE verifier and destination ride in a short-lived
 * HttpOnly cookie whose MAC is csrf.ts's, keyed by the sign-in form's double-submit token (its cookie
 * comes back with the callback too). So any node can finish a flow another node started, and a flow
 * cookie made for one browser does not verify in another.
 */
import { createHash, randomBytes } from "node:crypto"
import { Either, Option, type Redacted } from "effect"
import type { AppConfigShape, AuthSettings } from "../config.js"
import { macOf, sameText } from "./csrf.js"
import { paths } from "./paths.js"

/** The console as a client of the provider, once the settings are known to fit together. */
export interface OidcClient {
  /** The provider's URL (AUTH_ISSUER): discovery is below it, and its tokens name it as `iss`. */
  readonly issuer: string
  readonly clientId: string
  readonly clientSecret: Option.Option<Redacted.Redacted<string>>
  /** Unset: derived from each request (`redirectUriFor`). */
  readonly redirectUrl: Option.Option<string>
  readonly scope: string
}

/**
 * The client the CONSOLE_OIDC_* settings describe: none without a client id; a message naming the
 * variables when the API has no provider to send the browser to (development keys, or an issuer that
 * is not a URL).
 */
export const resolveOidcClient = (
  raw: AppConfigShape["console"]["oidc"],
  auth: AuthSettings
): Either.Either<OidcClient | undefined, string> => {
  if (Option.isNone(raw.clientId)) return Either.right(undefined)
  if (auth._tag === "Dev") {
    return Either.left(
      "CONSOLE_OIDC_CLIENT_ID needs the identity provider's settings: AUTH_MODE=jwks (with AUTH_JWKS_URL) or AUTH_MODE=keys " +
        "(with AUTH_PUBLIC_KEYS_FILE), and AUTH_ISSUER (the provider's URL) and AUTH_AUDIENCE; development keys have no provider to sign in with"
    )
  }
  if (!isHttpUrl(auth.issuer)) {
    return Either.left(
      `CONSOLE_OIDC_CLIENT_ID needs AUTH_ISSUER to be the provider's http:// or https:// URL ` +
        `(its discovery document is at <AUTH_ISSUER>/.well-known/openid-configuration), got ${JSON.stringify(auth.issuer)}`
    )
  }
  return Either.right({
    issuer: auth.issuer,
    clientId: raw.clientId.value,
    clientSecret: raw.clientSecret,
    redirectUrl: raw.redirectUrl,
    scope: raw.scope
  })
}

const isHttpUrl = (text: string) => URL.canParse(text) && ["http:", "https:"].includes(new URL(text).protocol)

/** How the sign-in page names the provider: its issuer's host. */
export const providerName = (issuer: string): string => (URL.canParse(issuer) ? new URL(issuer).host : issuer)

/** Where the provider's discovery document is (OpenID Connect Discovery 1.0, section 4). */
export const discoveryUrl = (issuer: string): string => `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`

/** What the console needs of the discovery document. */
export interface Discovery {
  readonly authorizationEndpoint: string
  readonly tokenEndpoint: string
}

/**
 * The endpoints of a discovery document, or what is wrong with it. Its `issuer` must be the one the
 * API checks tokens against, as the specification requires: a document that names another is not
 * this provider's.
 */
export const parseDiscovery = (document: unknown, issuer: string): Either.Either<Discovery, string> => {
  if (typeof document !== "object" || document === null) return Either.left("its discovery document is not a JSON object")
  const fields = document as Record<string, unknown>
  if (fields["issuer"] !== issuer) {
    return Either.left(`its discovery document names the issuer ${JSON.stringify(fields["issuer"])}, not ${JSON.stringify(issuer)} (AUTH_ISSUER)`)
  }
  const endpoint = (name: string) => {
    const value = fields[name]
    return typeof value === "string" && isHttpUrl(value) ? value : undefined
  }
  const authorizationEndpoint = endpoint("authorization_endpoint")
  const tokenEndpoint = endpoint("token_endpoint")
  if (authorizationEndpoint === undefined || tokenEndpoint === undefined) {
    return Either.left("its discovery document lacks an http(s) authorization_endpoint or token_endpoint")
  }
  return Either.right({ authorizationEndpoint, tokenEndpoint })
}

/**
 * The origins the sign-in page's provider form may end up at (its Content-Security-Policy's
 * form-action): the issuer's, and the authorization endpoint's when discovery named it.
 */
export const formTargetsOf = (issuer: string, discovery: Discovery | undefined): ReadonlyArray<string> =>
  [...new Set([issuer, ...(discovery === undefined ? [] : [discovery.authorizationEndpoint])].filter(isHttpUrl).map((url) => new URL(url).origin))]

// ---- PKCE and state ----

/** 32 random bytes, base64url: a PKCE code verifier (43 characters), or a state. */
export const randomToken = (): string => randomBytes(32).toString("base64url")

/** The S256 code challenge of a verifier: base64url(SHA-256(verifier)). */
export const codeChallengeOf = (verifier: string): string => createHash("sha256").update(verifier).digest("base64url")

// ---- the flow cookie ----

/** The cookie that carries a flow from its start to the callback. */
export const flowCookie = "console_oidc_flow"

/** How long a started sign-in may take at the provider. */
export const flowLifetimeSeconds = 600

export interface Flow {
  readonly state: string
  readonly verifier: string
  /** The console page to go to once signed in (already checked to be one). */
  readonly next: string
  /** Seconds since the epoch. */
  readonly expiresAt: number
}

const flowPurpose = "console oidc flow v1"

/** The cookie's value: the flow as base64url JSON, a dot, and its MAC keyed by the sign-in token. */
export const sealFlow = (flow: Flow, key: string): string => {
  const payload = Buffer.from(JSON.stringify({ s: flow.state, v: flow.verifier, n: flow.next, e: flow.expiresAt })).toString("base64url")
  return `${payload}.${macOf(key, `${flowPurpose}\n${payload}`)}`
}

/** Why a callback's flow cookie is not taken; `reason` is for the page. */
export type FlowRefusal = {
  readonly kind: "missing" | "forged" | "expired" | "state"
  readonly reason: string
}

const refusal = (kind: FlowRefusal["kind"], reason: string): Either.Either<never, FlowRefusal> => Either.left({ kind, reason })

/**
 * The flow a callback continues: the cookie's MAC (keyed by the sign-in token; `undefined` when that
 * cookie did not come), its expiry, and the state the provider sent back against the one it holds,
 * compared in constant time.
 */
export const openFlow = (
  cookie: string | undefined,
  key: string | undefined,
  state: string | undefined,
  nowSeconds: number
): Either.Either<Flow, FlowRefusal> => {
  if (cookie === undefined || cookie === "" || key === undefined || key === "") {
    return refusal("missing", "this browser holds no sign-in it started here (its cookies were cleared, or it began in another browser)")
  }
  const [payload, mac, ...rest] = cookie.split(".")
  if (payload === undefined || mac === undefined || rest.length > 0 || !sameText(mac, macOf(key, `${flowPurpose}\n${payload}`))) {
    return refusal("forged", "the sign-in's cookie does not carry this console's signature")
  }
  let fields: Record<string, unknown>
  try {
    fields = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>
  } catch {
    return refusal("forged", "the sign-in's cookie cannot be read")
  }
  const { e: expiresAt, n: next, s: held, v: verifier } = fields
  if (typeof held !== "string" || typeof verifier !== "string" || typeof next !== "string" || typeof expiresAt !== "number") {
    return refusal("forged", "the sign-in's cookie cannot be read")
  }
  if (expiresAt <= nowSeconds) return refusal("expired", `the sign-in took longer than ${flowLifetimeSeconds / 60} minutes`)
  if (state === undefined || state === "" || !sameText(state, held)) {
    return refusal("state", "the provider's answer does not belong to the sign-in this browser started (its state differs)")
  }
  return Either.right({ state: held, verifier, next, expiresAt })
}

// ---- the requests ----

/**
 * The redirect URI the provider sends the browser back to: the configured one, else this console's
 * callback on the host the browser asked for (behind a proxy the console trusts, the scheme it says).
 */
export const redirectUriFor = (
  configured: Option.Option<string>,
  headers: Readonly<Record<string, string | undefined>>,
  trustProxy: boolean
): string => {
  if (Option.isSome(configured)) return configured.value
  const forwarded = trustProxy ? headers["x-forwarded-proto"]?.split(",")[0]?.trim().toLowerCase() : undefined
  const scheme = forwarded === "https" || forwarded === "http" ? forwarded : "http"
  const host = (trustProxy ? headers["x-forwarded-host"]?.split(",")[0]?.trim() : undefined) ?? headers["host"] ?? "localhost"
  return `${scheme}://${host}${paths.providerCallback}`
}

/** The provider's authorization endpoint with the request of this flow (any query it has kept). */
export const authorizationUrl = (
  endpoint: string,
  request: { readonly clientId: string; readonly redirectUri: string; readonly scope: string; readonly state: string; readonly verifier: string }
): string => {
  const url = new URL(endpoint)
  url.searchParams.set("response_type", "code")
  url.searchParams.set("client_id", request.clientId)
  url.searchParams.set("redirect_uri", request.redirectUri)
  url.searchParams.set("scope", request.scope)
  url.searchParams.set("state", request.state)
  url.searchParams.set("code_challenge", codeChallengeOf(request.verifier))
  url.searchParams.set("code_challenge_method", "S256")
  return url.href
}

/** The token request's form fields (RFC 6749 4.1.3, RFC 7636 4.5); a confidential client's secret in the body. */
export const tokenRequestFields = (request: {
  readonly code: string
  readonly redirectUri: string
  readonly clientId: string
  readonly verifier: string
  readonly clientSecret: string | undefined
}): Record<string, string> => ({
  grant_type: "authorization_code",
  code: request.code,
  redirect_uri: request.redirectUri,
  client_id: request.clientId,
  code_verifier: request.verifier,
  ...(request.clientSecret === undefined ? {} : { client_secret: request.clientSecret })
})

/**
 * The access token of a token endpoint's answer; or, for an error answer (RFC 6749 5.2), what the
 * provider said.
 */
export const accessTokenOf = (status: number, body: unknown): Either.Either<string, string> => {
  const fields = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {}
  if (status >= 200 && status < 300) {
    const token = fields["access_token"]
    return typeof token === "string" && token !== "" ? Either.right(token) : Either.left(`${status} without an access_token`)
  }
  const error = typeof fields["error"] === "string" ? fields["error"] : undefined
  const description = typeof fields["error_description"] === "string" ? fields["error_description"] : undefined
  return Either.left(
    `${status}${error === undefined ? "" : ` ${error}`}${description === undefined ? "" : `: ${description}`}`.slice(0, 300)
  )
}
