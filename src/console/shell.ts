/**
 * What every console route needs, built once: the services the pages read, and the shell each
 * handler runs in (the rate limit's charge, the session check, what the viewer's role may do, the
 * problem pages). The route modules under routes/ take it as one value, `ConsoleShell`.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as UrlParams from "@effect/platform/UrlParams"
import type { SqlClient } from "@effect/sql"
import { Cause, Clock, ConfigError, Duration, Effect, Either, Option } from "effect"
import { FulfilmentSagas, OrderActors } from "../aggregates.js"
import { type Action, grantOf } from "../auth/policy.js"
import { RateLimits } from "../auth/RateLimits.js"
import { authSettings, TokenVerifier } from "../auth/TokenVerifier.js"
import { AppConfig } from "../config.js"
import { EventStore } from "../eventstore/EventStore.js"
import { callerAddress } from "../http/authenticate.js"
import { consolePrefix } from "../http/requestGuard.js"
import { topology } from "../messaging/contracts.js"
import * as DeliveryStore from "../notifications/DeliveryStore.js"
import type { Part } from "../observability/pipelineStatus.js"
import * as OutboxStore from "../outbox/OutboxStore.js"
import * as ProcessStore from "../processes/ProcessStore.js"
import { OrderSummaries } from "../projections/OrderSummaries.js"
import * as QuarantineStore from "../quarantine/QuarantineStore.js"
import { loadAssets } from "./assets.js"
import { checkCsrf, csrfField, csrfTokenOf } from "./csrf.js"
import type { Html } from "./html.js"
import type { Viewer } from "./layout.js"
import { csrfRefused, failed, forbidden, type Problem, problemPage, tooManyRequests } from "./pages/problem.js"
import { paths } from "./paths.js"
import { providerName, resolveOidcClient } from "./oidc.js"
import * as OidcProvider from "./oidcProvider.js"
import { chargeOf } from "./rateLimit.js"
import * as Session from "./session.js"

/**
 * Console pages may load only what the console serves: no inline script or style, no other origin,
 * never framed.
 */
export const pageHeaders = {
  "content-security-policy": "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin"
}

const respond = (body: Html, status = 200) =>
  HttpServerResponse.text(`${body.value}\n`, { status, contentType: "text/html; charset=utf-8", headers: pageHeaders })

const seeOther = (location: string) => HttpServerResponse.redirect(location, { status: 303 })

const isHtmx = (request: HttpServerRequest.HttpServerRequest) => request.headers["hx-request"] === "true"

/** Only a path of this console: never another site (no open redirect). */
const safeNext = (next: string | undefined) =>
  next !== undefined && (next === consolePrefix || next.startsWith(`${consolePrefix}/`) || next.startsWith(`${consolePrefix}?`)) &&
    !next.startsWith("//") && !next.includes("\\")
    ? next
    : paths.home

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const firstParam = (params: Readonly<Record<string, string | Array<string>>>, name: string): string | undefined => {
  const value = params[name]
  return Array.isArray(value) ? value[0] : value
}

const intParam = (value: string | undefined): number | undefined =>
  value !== undefined && /^\d{1,9}$/.test(value) ? Number(value) : undefined

const orLeft = <A, E, R>(effect: Effect.Effect<A, E, R>, timeout: Duration.DurationInput = "5 seconds"): Effect.Effect<Part<A>, never, R> =>
  effect.pipe(
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error(`no answer within ${Duration.format(Duration.decode(timeout))}`) }),
    Effect.match({
      onFailure: (error): Part<A> => ({ ok: false, error: error instanceof Error ? error.message : String(error) }),
      onSuccess: (value): Part<A> => ({ ok: true, value })
    })
  )

/**
 * Builds the shell of the console's routes, once: the services they read (a provider configured
 * with settings that do not fit stops start-up here), and the functions every handler runs in.
 */
export const make = Effect.gen(function*() {
  const verifier = yield* TokenVerifier
  const limits = yield* RateLimits
  const config = yield* AppConfig
  const auth = yield* Effect.orDie(authSettings)
  // Signing in with the provider, when configured. Settings that do not fit stop start-up: a
  // ConfigError, which `actors` prints as the one line that names the variables.
  const oidcClient = yield* Either.match(resolveOidcClient(config.console.oidc, auth), {
    onLeft: (message) => Effect.die(ConfigError.InvalidData([], message)),
    onRight: Effect.succeed
  })
  const provider = oidcClient === undefined ? undefined : yield* OidcProvider.make(oidcClient)
  const providerLabel = oidcClient === undefined ? undefined : providerName(oidcClient.issuer)
  const orders = yield* OrderActors
  const sagas = yield* FulfilmentSagas
  const store = yield* EventStore
  const summaries = yield* OrderSummaries
  const processStore = yield* ProcessStore.ProcessStore
  const quarantine = yield* QuarantineStore.QuarantineStore
  // What the pipeline's status, the requeue and the retries read and write with.
  const services = yield* Effect.context<
    | SqlClient.SqlClient
    | AppConfig
    | OutboxStore.OutboxStore
    | QuarantineStore.QuarantineStore
    | DeliveryStore.DeliveryStore
    | ProcessStore.ProcessStore
    | OrderSummaries
    | EventStore
  >()
  const assets = yield* loadAssets
  const names = topology(config.messagingPrefix)
  const traceTemplate = Option.getOrUndefined(config.console.traceUrl)

  const nowSeconds = Effect.map(Clock.currentTimeMillis, (millis) => Math.floor(millis / 1000))

  /** A problem's page, with its status. */
  const problem = (value: Problem, viewer: Viewer | undefined) => respond(problemPage(value, viewer), value.status)

  /**
   * Where the visitor goes without a valid session: to sign in, told why; an htmx request is told
   * to load that page whole rather than swap it into a fragment.
   */
  const toSignIn = (request: HttpServerRequest.HttpServerRequest, reason: Session.SignedOut["reason"]) => {
    const next = request.method === "GET" ? `&next=${encodeURIComponent(request.url)}` : ""
    const location = `${paths.signIn}?reason=${reason === "none" ? "" : reason}${next}`
    const response = isHtmx(request)
      ? HttpServerResponse.empty({ status: 200, headers: { "hx-redirect": location } })
      : seeOther(location)
    return reason === "none" ? response : Session.end(response)
  }

  const viewerOf = (session: Session.Session): Viewer => ({ principal: session.principal, csrfToken: csrfTokenOf(session.token) })

  /**
   * Runs a console request under its rate limit (rateLimit.ts): a valid session's principal's, else
   * the caller's address's. Over it, a 429 page that says when to come back, with Retry-After.
   * The handler gets the session the request's cookie opens, or why none.
   */
  const counted = <E>(
    handler: (
      session: Either.Either<Session.Session, Session.SignedOut>,
      request: HttpServerRequest.HttpServerRequest
    ) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, HttpRouter.HttpRouter.Provided>
  ) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const session = yield* Effect.either(Session.fromCookies(verifier, request.cookies))
      const charge = chargeOf(request.url.split("?")[0]!, Either.isRight(session) ? session.right.principal.subject : undefined)
      const taken = yield* Effect.either(
        charge.bucket === "principal"
          ? limits.principal(charge.subject)
          : charge.bucket === "address"
          ? limits.address(callerAddress(request, config.http.trustProxy))
          : Effect.void
      )
      if (Either.isLeft(taken)) {
        const retryAfter = taken.left.retryAfterSeconds
        const page = yield* problem(
          tooManyRequests(retryAfter, charge.bucket === "principal" ? "session" : "address"),
          Either.isRight(session) ? viewerOf(session.right) : undefined
        )
        return HttpServerResponse.setHeader(page, "retry-after", String(retryAfter))
      }
      return yield* handler(session, request)
    })

  /** Runs a page for a signed-in viewer; everyone else is sent to sign in. */
  const signedIn = <E>(
    handler: (viewer: Viewer, request: HttpServerRequest.HttpServerRequest) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, HttpRouter.HttpRouter.Provided>
  ) =>
    counted((session, request) => {
      if (Either.isLeft(session)) return Effect.succeed(toSignIn(request, session.left.reason))
      const viewer = viewerOf(session.right)
      return handler(viewer, request).pipe(
        Effect.catchAllCause((cause) =>
          Effect.logError("console: a page failed", Cause.pretty(cause)).pipe(
            Effect.zipRight(problem(failed("The page could not be made: a service it reads from failed. The error is in the server's log."), viewer))
          )
        )
      )
    })

  /** A POST of a signed-in viewer whose form carries this session's CSRF token, from this console. */
  const signedInPost = <E>(
    handler: (viewer: Viewer, form: UrlParams.UrlParams) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, HttpRouter.HttpRouter.Provided>
  ) =>
    signedIn((viewer, request) =>
      Effect.gen(function*() {
        const form = yield* request.urlParamsBody
        const verdict = checkCsrf(request.headers, viewer.csrfToken, Option.getOrUndefined(UrlParams.getFirst(form, csrfField)))
        if (!verdict.ok) return yield* problem(csrfRefused(verdict.reason), viewer)
        return yield* handler(viewer, form)
      })
    )

  /** The viewer's role may do `action` at all; else a page that says it may not. */
  const may = (viewer: Viewer, action: Action, what: string) =>
    grantOf(viewer.principal, action) === undefined ? Option.some(problem(forbidden(what, viewer.principal.roles), viewer)) : Option.none()

  return {
    // What the routes read.
    verifier,
    limits,
    config,
    auth,
    oidcClient,
    provider,
    providerLabel,
    orders,
    sagas,
    store,
    summaries,
    processStore,
    quarantine,
    services,
    assets,
    names,
    traceTemplate,
    nowSeconds,
    // The shell each handler runs in.
    problem,
    toSignIn,
    viewerOf,
    counted,
    signedIn,
    signedInPost,
    may,
    // Answers, and what they are made from.
    respond,
    seeOther,
    isHtmx,
    safeNext,
    UUID,
    firstParam,
    intParam,
    orLeft
  }
})

/** What every console route needs: see `make`. */
export type ConsoleShell = Effect.Effect.Success<typeof make>

/** The API's router, on which the console mounts its routes. */
export type ConsoleRouter = HttpRouter.HttpRouter.Service<unknown, HttpRouter.HttpRouter.DefaultServices>
