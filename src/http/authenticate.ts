/**
 * The one place where requests meet the access policy. For a protected endpoint: the bearer token
 * is verified, the principal's rate limit taken, and the policy asked whether any of its roles may
 * perform the endpoint's action at all (403 if not, before anything is looked up). Which orders it
 * reaches (its own, or any) travels with the caller to the handler, which alone knows the order's
 * customer. For every request without a token, and for the public endpoints, the caller's address
 * has a rate limit of its own (the web console's requests excepted: it counts them itself).
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Context, Effect, Layer, Metric, Option, Redacted } from "effect"
import { type Action, grantOf } from "../auth/policy.js"
import { RateLimits } from "../auth/RateLimits.js"
import { type InvalidToken, TokenVerifier } from "../auth/TokenVerifier.js"
import { AppConfig } from "../config.js"
import { notePrincipal } from "./accessLog.js"
import { Api } from "./Api.js"
import { Forbidden, TooManyRequests, Unauthorized, Unavailable } from "./errors.js"
import { consolePrefix } from "./requestGuard.js"
import { Authentication, RequiredAction, whoMayText } from "./security.js"

const realm = "event-sourced-actors"

export const authenticationFailures = Metric.counter("http_authentication_failures_total", {
  description: "Requests to protected endpoints refused with 401, by reason",
  incremental: true
})

const setHeader = (name: string, value: string) =>
  HttpApp.appendPreResponseHandler((_request, response) => Effect.succeed(HttpServerResponse.setHeader(response, name, value)))

/** `METHOD path` of every protected endpoint → the action it performs (from the API's annotations). */
const actionsByRoute = () => {
  const actions = new Map<string, Action>()
  HttpApi.reflect(Api, {
    onGroup: () => {},
    onEndpoint: ({ endpoint, mergedAnnotations }) => {
      Option.map(Context.getOption(mergedAnnotations, RequiredAction), (action) => actions.set(`${endpoint.method} ${endpoint.path}`, action))
    }
  })
  return actions
}

/** RFC 6750's b64token, of a sane length. */
const bearerToken = /^Bearer +([A-Za-z0-9\-._~+/]{1,8192}=*)$/i

type Refusal = { readonly kind: string; readonly reason: string }

const parseAuthorization = (header: string | undefined): Redacted.Redacted<string> | Refusal => {
  if (header === undefined) return { kind: "missing", reason: "send a bearer token: Authorization: Bearer <token>" }
  const match = bearerToken.exec(header.trim())
  if (match === null) {
    return {
      kind: "malformed",
      reason: /^bearer\b/i.test(header.trim())
        ? "the Authorization header's token is not a well-formed bearer token"
        : "the Authorization header must use the Bearer scheme: Authorization: Bearer <token>"
    }
  }
  return Redacted.make(match[1]!)
}

/** The caller's address: the peer's, or behind a trusted proxy the one it appended to X-Forwarded-For. */
export const callerAddress = (request: HttpServerRequest.HttpServerRequest, trustProxy: boolean) => {
  if (trustProxy) {
    const forwarded = request.headers["x-forwarded-for"]?.split(",").at(-1)?.trim()
    if (forwarded !== undefined && forwarded.length > 0) return forwarded
  }
  return Option.getOrElse(request.remoteAddress, () => "unknown")
}

const tooMany = (retryAfterSeconds: number, who: string) =>
  setHeader("retry-after", String(retryAfterSeconds)).pipe(
    Effect.zipRight(Effect.fail(
      new TooManyRequests({
        error: "rate_limited",
        message: `too many requests from ${who}; retry after ${retryAfterSeconds} s`,
        retryAfterSeconds
      })
    ))
  )

export const AuthenticationLive = Layer.effect(
  Authentication,
  Effect.gen(function*() {
    const verifier = yield* TokenVerifier
    const limits = yield* RateLimits
    const { http } = yield* AppConfig
    const actions = actionsByRoute()

    const unauthorized = (refusal: Refusal, counted: boolean) =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        // Requests without a header were counted against their address on the way in.
        if (counted) {
          yield* limits.address(callerAddress(request, http.trustProxy)).pipe(
            Effect.catchTag("RateLimited", (limited) => tooMany(limited.retryAfterSeconds, "this address"))
          )
        }
        yield* Metric.increment(Metric.tagged(authenticationFailures, "reason", refusal.kind))
        const challenge = refusal.kind === "missing"
          ? `Bearer realm="${realm}"`
          : `Bearer realm="${realm}", error="invalid_token", error_description="${refusal.reason.replaceAll("\"", "'")}"`
        yield* setHeader("www-authenticate", challenge)
        return yield* Effect.fail(new Unauthorized({ error: "unauthorized", message: refusal.reason }))
      })

    return Authentication.of({
      bearer: () =>
        Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          const token = parseAuthorization(request.headers.authorization)
          if (!Redacted.isRedacted(token)) return yield* unauthorized(token, token.kind !== "missing")
          const principal = yield* verifier.verify(token).pipe(
            Effect.catchTags({
              InvalidToken: (invalid: InvalidToken) => unauthorized({ kind: invalid.kind, reason: invalid.reason }, true),
              KeysUnavailable: (unavailable) =>
                Effect.logWarning("cannot verify a bearer token: the identity provider's keys cannot be fetched").pipe(
                  Effect.annotateLogs("cause", unavailable.message),
                  Effect.zipRight(setHeader("retry-after", "5")),
                  Effect.zipRight(Effect.fail(
                    new Unavailable({
                      error: "identity_provider_unavailable",
                      message: "the identity provider's keys cannot be fetched to verify the token; retry",
                      retryAfterSeconds: 5
                    })
                  ))
                )
            })
          )
          yield* limits.principal(principal.subject).pipe(
            Effect.catchTag("RateLimited", (limited) => tooMany(limited.retryAfterSeconds, `subject ${principal.subject}`))
          )
          const route = yield* HttpRouter.RouteContext
          yield* notePrincipal(principal.subject)
          const action = actions.get(`${route.route.method} ${route.route.path}`)
          // A protected endpoint without an action is a bug of this API, not the caller's.
          if (action === undefined) return yield* Effect.dieMessage(`no action declared for ${route.route.method} ${route.route.path}`)
          const grant = grantOf(principal, action)
          if (grant === undefined) {
            yield* setHeader("www-authenticate", `Bearer realm="${realm}", error="insufficient_scope"`)
            return yield* Effect.fail(
              new Forbidden({
                error: "forbidden",
                message: `${action} is open to ${whoMayText(action)}; the token's roles are ` +
                  `${principal.roles.length === 0 ? "none of these" : principal.roles.join(", ")}`
              })
            )
          }
          return { principal, grant }
        })
    })
  })
)

/** Paths served without a token: the API's public endpoints and its documentation. */
const publicPaths = () => {
  const paths = new Set<string>(["/openapi.json"])
  HttpApi.reflect(Api, {
    onGroup: () => {},
    onEndpoint: ({ endpoint, middleware }) => {
      if (!middleware.has(Authentication as unknown as HttpApiMiddleware.TagClassAny)) paths.add(endpoint.path)
    }
  })
  return paths
}

/**
 * Whether a request counts against its address's anonymous limit: without an Authorization header,
 * or to a public path (which never looks at one). Never the web console's: its pages carry a session
 * cookie, not a header, and it counts them itself, a session against its principal
 * (src/console/rateLimit.ts). `path` is without its query.
 */
export const countsAsAnonymous = (path: string, hasAuthorization: boolean, publicPaths: ReadonlySet<string>): boolean => {
  const inConsole = path === consolePrefix || path.startsWith(`${consolePrefix}/`)
  return !inConsole && (!hasAuthorization || publicPaths.has(path) || path.startsWith("/docs"))
}

/**
 * The rate limit of requests that do not authenticate (`countsAsAnonymous`), by the caller's address.
 */
export const anonymousRateLimit = HttpApiBuilder.middleware(
  Api,
  Effect.gen(function*() {
    const limits = yield* RateLimits
    const { http } = yield* AppConfig
    const open = publicPaths()
    return (app: HttpApp.Default) =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const path = request.url.split("?")[0]!
        if (countsAsAnonymous(path, request.headers.authorization !== undefined, open)) {
          yield* limits.address(callerAddress(request, http.trustProxy)).pipe(
            Effect.catchTag("RateLimited", (limited) => tooMany(limited.retryAfterSeconds, "this address"))
          )
        }
        return yield* app
      })
  })
)
