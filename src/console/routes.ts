/**
 * The web console's routes, mounted on the API's router (as Swagger UI's /docs is), so that the API
 * process serves it at /console. The effectful shell: each handler reads the session (the API's
 * token, verified again on every request), checks what the access policy grants, reads what the page
 * shows, and renders it with the pure page functions. Every answer is a page: failures become pages
 * that say what happened and what to do.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as UrlParams from "@effect/platform/UrlParams"
import type { SqlClient } from "@effect/sql"
import { Cause, Clock, ConfigError, Duration, Effect, Either, Layer, Option } from "effect"
import { randomUUID } from "node:crypto"
import { FulfilmentSagas, OrderActors } from "../aggregates.js"
import { type Action, covers, grantOf, type Principal } from "../auth/policy.js"
import * as DevKeys from "../auth/devKeys.js"
import { RateLimits } from "../auth/RateLimits.js"
import { authSettings, TokenVerifier } from "../auth/TokenVerifier.js"
import { AppConfig } from "../config.js"
import { streamIdOf } from "../domain/aggregate.js"
import { orderAggregate } from "../domain/order/index.js"
import { EventStore } from "../eventstore/EventStore.js"
import { callerAddress } from "../http/authenticate.js"
import { eventFeedResponse } from "../http/events/feed.js"
import { consolePrefix } from "../http/requestGuard.js"
import { topology } from "../messaging/contracts.js"
import { listDeadLetters, requeueDeadLetters } from "../notifications/deadLetters.js"
import * as DeliveryStore from "../notifications/DeliveryStore.js"
import { type Part, readStatus } from "../observability/pipelineStatus.js"
import * as OutboxStore from "../outbox/OutboxStore.js"
import * as ProcessStore from "../processes/ProcessStore.js"
import { OrderSummaries } from "../projections/OrderSummaries.js"
import * as QuarantineStore from "../quarantine/QuarantineStore.js"
import { stateAt } from "../runtime/timeTravel.js"
import { loadAssets, type Asset } from "./assets.js"
import { checkCsrf, csrfField, csrfTokenOf, newSignInCsrfToken, signInCsrfCookie } from "./csrf.js"
import { replayWithChanges } from "./diff.js"
import { plural } from "./format.js"
import { type Html, html } from "./html.js"
import type { Notice, Viewer } from "./layout.js"
import { retryParked } from "../quarantine/retry.js"
import { deadLettersPage, pipelinePage, quarantinePage } from "./pages/admin.js"
import { customerPage, homePage } from "./pages/home.js"
import { livePage } from "./pages/live.js"
import { orderPage, stateView, type TimelineRow } from "./pages/order.js"
import { csrfRefused, failed, forbidden, orderNotFound, pageNotFound, type Problem, problemPage, tooManyRequests } from "./pages/problem.js"
import { signedInPage, signInPage } from "./pages/signIn.js"
import { at, paths } from "./paths.js"
import { fulfilmentView } from "../processes/fulfilment/view.js"
import { notificationsOf } from "./readers.js"
import {
  authorizationUrl,
  flowCookie,
  formTargetsOf,
  flowLifetimeSeconds,
  openFlow,
  providerName,
  randomToken,
  redirectUriFor,
  resolveOidcClient,
  sealFlow
} from "./oidc.js"
import * as OidcProvider from "./oidcProvider.js"
import { chargeOf } from "./rateLimit.js"
import * as Session from "./session.js"

/** Events per page of an order's timeline. */
export const TIMELINE_PAGE_SIZE = 50


/**
 * Console pages may load only what the console serves: no inline script or style, no other origin,
 * never framed.
 */
const pageHeaders = {
  "content-security-policy": "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin"
}

/**
 * The sign-in page's headers: its provider form's POST is answered with a redirect to the provider,
 * and a browser holds a form's redirects to `form-action` too, so the provider's origins join 'self'.
 */
const signInPageHeaders = (formTargets: ReadonlyArray<string>) =>
  formTargets.length === 0 ? pageHeaders : {
    ...pageHeaders,
    "content-security-policy": `default-src 'self'; base-uri 'none'; form-action 'self' ${formTargets.join(" ")}; frame-ancestors 'none'`
  }

const respond = (body: Html, status = 200) =>
  HttpServerResponse.text(`${body.value}\n`, { status, contentType: "text/html; charset=utf-8", headers: pageHeaders })

/** The sign-in form's double-submit cookie: Lax, because it also keys the provider flow's cookie (csrf.ts). */
const signInCsrfOptions = { httpOnly: true, secure: true, sameSite: "lax", path: consolePrefix, maxAge: "1 hour" } as const

/** A sign-in token this console made (so a page may keep using the browser's own). */
const SIGN_IN_TOKEN = /^[A-Za-z0-9_-]{32}$/

/**
 * The flow cookie of signing in with the provider: HttpOnly, Secure, and only sent to the sign-in
 * paths. SameSite=Lax, not Strict: the provider's redirect back to the callback is a cross-site
 * top-level navigation, on which a browser sends Lax cookies and withholds Strict ones.
 */
const flowCookieOptions = { httpOnly: true, secure: true, sameSite: "lax", path: paths.signIn } as const

const seeOther = (location: string) => HttpServerResponse.redirect(location, { status: 303 })

const isHtmx = (request: HttpServerRequest.HttpServerRequest) => request.headers["hx-request"] === "true"

/** Only a path of this console: never another site (no open redirect). */
const safeNext = (next: string | undefined) =>
  next !== undefined && (next === consolePrefix || next.startsWith(`${consolePrefix}/`) || next.startsWith(`${consolePrefix}?`)) &&
    !next.startsWith("//") && !next.includes("\\")
    ? next
    : paths.home

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Why a visitor is sent to sign in, by a fixed word in the URL (never text from the URL). */
const signInReasons: Record<string, Notice> = {
  expired: { tone: "error", text: "Your session has expired: sign in again." },
  invalid: { tone: "error", text: "Your session's token is no longer accepted: sign in again." },
  unavailable: { tone: "error", text: "The identity provider's keys cannot be fetched right now: try again in a moment." },
  "signed-out": { tone: "success", text: "You are signed out." }
}

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

export const layer = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
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

    const serveAsset = (asset: Asset) =>
      HttpServerResponse.text(asset.body, { contentType: asset.contentType, headers: { "cache-control": "public, max-age=3600" } })

    yield* router.get(paths.htmx, Effect.succeed(serveAsset(assets.htmx)))
    yield* router.get(paths.css, Effect.succeed(serveAsset(assets.css)))
    yield* router.get(paths.script, Effect.succeed(serveAsset(assets.script)))

    // ---- signing in and out ----

    /**
     * The sign-in page, with why the visitor is here. Its forms carry the browser's sign-in token,
     * kept when it has one of ours (so that a second tab, or a flow under way at the provider, keeps
     * working), else a new one.
     */
    const renderSignIn = (notice: Notice | undefined, status = 200, next?: string) =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const held = request.cookies[signInCsrfCookie]
        const csrfToken = held !== undefined && SIGN_IN_TOKEN.test(held) ? held : newSignInCsrfToken()
        // The provider's endpoints, kept or fetched (briefly: the page does not wait long for them).
        const discovery = provider === undefined
          ? Option.none()
          : yield* Effect.option(Effect.timeout(provider.discovery, "2 seconds"))
        const formTargets = oidcClient === undefined ? [] : formTargetsOf(oidcClient.issuer, Option.getOrUndefined(discovery))
        const body = signInPage({
          csrfToken,
          notice,
          devMode: auth._tag === "Dev",
          suggestedCustomer: randomUUID(),
          provider: providerLabel,
          next: next === undefined ? undefined : safeNext(next)
        })
        return HttpServerResponse.unsafeSetCookie(
          HttpServerResponse.text(`${body.value}\n`, { status, contentType: "text/html; charset=utf-8", headers: signInPageHeaders(formTargets) }),
          signInCsrfCookie,
          csrfToken,
          signInCsrfOptions
        )
      })

    yield* router.get(paths.signIn, counted(() =>
      Effect.gen(function*() {
        const search = yield* HttpServerRequest.ParsedSearchParams
        return yield* renderSignIn(signInReasons[firstParam(search, "reason") ?? ""], 200, firstParam(search, "next"))
      })
    ))

    /** Opens the session a token gives, or shows the sign-in page again with why not. */
    const signInWith = (token: string, next: string | undefined) =>
      Effect.gen(function*() {
        const session = yield* Effect.either(Session.open(verifier, token))
        if (Either.isLeft(session)) return yield* renderSignIn({ tone: "error", text: session.left.message }, 401, next)
        return Session.keep(seeOther(safeNext(next)), session.right, yield* nowSeconds)
      })

    /** A sign-in form's POST: from this console, with the token its page was given. */
    const signInForm = (use: (form: UrlParams.UrlParams) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest>) =>
      counted((_session, request) =>
        Effect.gen(function*() {
          const form = yield* Effect.orElseSucceed(request.urlParamsBody, () => UrlParams.empty)
          const verdict = checkCsrf(request.headers, request.cookies[signInCsrfCookie], Option.getOrUndefined(UrlParams.getFirst(form, csrfField)))
          if (!verdict.ok) return yield* problem(csrfRefused(verdict.reason), undefined)
          return yield* use(form)
        })
      )

    yield* router.post(paths.signIn, signInForm((form) => {
      const token = Option.getOrElse(UrlParams.getFirst(form, "token"), () => "").trim().replace(/^Bearer\s+/i, "")
      const next = Option.getOrUndefined(UrlParams.getFirst(form, "next"))
      if (token === "") return renderSignIn({ tone: "error", text: "Paste a bearer token to sign in." }, 400, next)
      return signInWith(token, next)
    }))

    // Development only: a token signed with the development key, as `token` in the CLI makes one.
    yield* router.post(paths.devToken, signInForm((form) =>
      Effect.gen(function*() {
        if (auth._tag !== "Dev") return yield* problem(pageNotFound(paths.devToken), undefined)
        const role = Option.getOrElse(UrlParams.getFirst(form, "role"), () => "")
        if (role !== "customer" && role !== "staff" && role !== "admin") {
          return yield* renderSignIn({ tone: "error", text: "Choose a role: customer, staff or admin." }, 400)
        }
        const subject = role === "customer" ? Option.getOrElse(UrlParams.getFirst(form, "subject"), () => "").trim() : `${role}-${randomUUID()}`
        if (role === "customer" && !UUID.test(subject)) return yield* renderSignIn({ tone: "error", text: "A customer's token names the customer: give their id, a UUID." }, 400)
        const { key } = yield* Effect.orDie(DevKeys.loadOrCreate(auth.keyFile))
        const token = yield* DevKeys.signToken(key, {
          issuer: auth.issuer,
          audience: auth.audience,
          subject,
          roles: [role],
          rolesClaim: auth.rolesClaim,
          ttlSeconds: 3600
        })
        return yield* signInWith(token, undefined)
      })
    ))

    // With the identity provider (oidc.ts): the start sends the browser there; the callback takes it back.
    yield* router.post(paths.providerStart, signInForm((form) =>
      Effect.gen(function*() {
        if (provider === undefined) return yield* problem(pageNotFound(paths.providerStart), undefined)
        const request = yield* HttpServerRequest.HttpServerRequest
        const next = safeNext(Option.getOrUndefined(UrlParams.getFirst(form, "next")))
        const discovery = yield* Effect.either(provider.discovery)
        if (Either.isLeft(discovery)) {
          yield* Effect.logWarning("console: the identity provider cannot be reached").pipe(Effect.annotateLogs("cause", discovery.left.reason))
          return yield* renderSignIn({
            tone: "error",
            text: `${providerLabel} cannot be reached right now (${discovery.left.reason}). Try again in a moment, or paste a token.`
          }, 502, next)
        }
        const flow = { state: randomToken(), verifier: randomToken(), next, expiresAt: (yield* nowSeconds) + flowLifetimeSeconds }
        // The sign-in token keys the flow cookie's MAC: checked by signInForm, and kept alive for the callback.
        const key = request.cookies[signInCsrfCookie]!
        const location = authorizationUrl(discovery.right.authorizationEndpoint, {
          clientId: provider.client.clientId,
          redirectUri: redirectUriFor(provider.client.redirectUrl, request.headers, config.http.trustProxy),
          scope: provider.client.scope,
          state: flow.state,
          verifier: flow.verifier
        })
        return seeOther(location).pipe(
          HttpServerResponse.unsafeSetCookie(flowCookie, sealFlow(flow, key), { ...flowCookieOptions, maxAge: `${flowLifetimeSeconds} seconds` }),
          HttpServerResponse.unsafeSetCookie(signInCsrfCookie, key, signInCsrfOptions)
        )
      })
    ))

    yield* router.get(paths.providerCallback, counted((_session, request) =>
      Effect.gen(function*() {
        if (provider === undefined) return yield* problem(pageNotFound(paths.providerCallback), undefined)
        const search = yield* HttpServerRequest.ParsedSearchParams
        const flow = openFlow(request.cookies[flowCookie], request.cookies[signInCsrfCookie], firstParam(search, "state"), yield* nowSeconds)
        // Checked again: the cookie's MAC is keyed by a browser's own token, so it proves the browser, not the text.
        const next = Either.isRight(flow) ? safeNext(flow.right.next) : undefined
        /** The sign-in page again, saying what failed; the flow is over either way. */
        const failedWith = (status: number, what: string) =>
          Effect.map(
            renderSignIn({ tone: "error", text: `Signing in with ${providerLabel} failed: ${what}. Try again, or paste a token.` }, status, next),
            HttpServerResponse.expireCookie(flowCookie, flowCookieOptions)
          )

        // The provider's own refusal (the person declined, or it would not sign them in). Its words,
        // shortened, only for the flow this browser started: anyone can write a link with an error_description.
        const error = firstParam(search, "error")
        if (error !== undefined) {
          const code = /^[A-Za-z0-9_.-]{1,64}$/.test(error) ? error : "an error"
          const description = Either.isRight(flow)
            ? firstParam(search, "error_description")?.replace(/[^\x20-\x7e]/g, "").slice(0, 200)
            : undefined
          return yield* failedWith(error === "access_denied" ? 403 : 400, `the provider answered ${code}${description ? ` (“${description}”)` : ""}`)
        }
        if (Either.isLeft(flow)) return yield* failedWith(400, flow.left.reason)
        const code = firstParam(search, "code")
        if (code === undefined || code === "") return yield* failedWith(400, "the provider sent no authorization code")

        const token = yield* Effect.either(provider.exchange({
          code,
          verifier: flow.right.verifier,
          redirectUri: redirectUriFor(provider.client.redirectUrl, request.headers, config.http.trustProxy)
        }))
        if (Either.isLeft(token)) {
          yield* Effect.logWarning("console: signing in with the identity provider failed").pipe(Effect.annotateLogs("cause", token.left.reason))
          return yield* failedWith(token.left._tag === "CodeRefused" ? 401 : 502, token.left.reason)
        }
        // The very checks a pasted token gets: the API's verifier (issuer, audience, keys, expiry).
        const session = yield* Effect.either(Session.open(verifier, token.right))
        if (Either.isLeft(session)) {
          return yield* failedWith(session.left.reason === "unavailable" ? 502 : 401, `the token it gave is not accepted: ${session.left.message}`)
        }
        yield* Effect.logInfo("console: signed in with the identity provider").pipe(Effect.annotateLogs("subject", session.right.principal.subject))
        return Session.keep(
          HttpServerResponse.expireCookie(yield* respond(signedInPage({ subject: session.right.principal.subject, next: safeNext(next) })), flowCookie, flowCookieOptions),
          session.right,
          yield* nowSeconds
        )
      })
    ))

    yield* router.post(paths.signOut, counted((session, request) =>
      Effect.gen(function*() {
        // A session already gone (expired, refused) has nothing left to protect: the cookie is dropped.
        if (Either.isRight(session)) {
          const form = yield* Effect.orElseSucceed(request.urlParamsBody, () => UrlParams.empty)
          const verdict = checkCsrf(request.headers, csrfTokenOf(session.right.token), Option.getOrUndefined(UrlParams.getFirst(form, csrfField)))
          if (!verdict.ok) return yield* problem(csrfRefused(verdict.reason), undefined)
        }
        return Session.end(seeOther(`${paths.signIn}?reason=signed-out`))
      })
    ))

    // ---- orders ----

    yield* router.get(paths.home, signedIn((viewer) =>
      Effect.gen(function*() {
        const principal = viewer.principal
        // A customer sees their own orders at once.
        const own = grantOf(principal, "listCustomerOrders")?.reach === "own" && principal.roles.includes("customer")
          ? yield* summaries.byCustomer(principal.subject, 20, undefined)
          : undefined
        return yield* respond(homePage(viewer, { ownOrders: own }))
      })
    ))

    yield* router.get(paths.find, signedIn((viewer) =>
      Effect.gen(function*() {
        const search = yield* HttpServerRequest.ParsedSearchParams
        const orderId = (firstParam(search, "orderId") ?? "").trim()
        const customerId = (firstParam(search, "customerId") ?? "").trim()
        if (orderId !== "") return seeOther(paths.order(orderId))
        if (customerId !== "") return seeOther(paths.customer(customerId))
        return yield* respond(homePage(viewer, { notice: { tone: "error", text: "Give an order id or a customer id." } }), 400)
      })
    ))

    yield* router.get(at("/customers/:customerId"), signedIn((viewer) =>
      Effect.gen(function*() {
        const customerId = (yield* HttpRouter.params).customerId ?? ""
        const denied = may(viewer, "listCustomerOrders", "list a customer's orders")
        if (Option.isSome(denied)) return yield* denied.value
        const grant = grantOf(viewer.principal, "listCustomerOrders")!
        if (!covers(grant, viewer.principal, customerId)) {
          return yield* problem({ ...forbidden("list another customer's orders", viewer.principal.roles), message: "A customer lists only their own orders." }, viewer)
        }
        const search = yield* HttpServerRequest.ParsedSearchParams
        const cursor = decodeCursor(firstParam(search, "cursor"))
        const page = yield* summaries.byCustomer(customerId, 51, cursor)
        const shown = page.slice(0, 50)
        const last = shown.at(-1)
        const next = page.length > 50 && last !== undefined
          ? `${paths.customer(customerId)}?cursor=${encodeCursor(last.placedAt, last.orderId)}`
          : undefined
        return yield* respond(customerPage(viewer, customerId, shown, next))
      })
    ))

    /** The order as the viewer may see it: none when it does not exist or is not theirs to see (the same answer). */
    const visibleOrder = (principal: Principal, orderId: string) =>
      Effect.gen(function*() {
        const grant = grantOf(principal, "readOrder")
        if (grant === undefined || !UUID.test(orderId)) return Option.none()
        const current = yield* orders.read(orderId)
        return current.state.status === "none" || !covers(grant, principal, current.state.customerId) ? Option.none() : Option.some(current)
      })

    /** Whether the viewer's grant for `action` covers this order (whose customer is given). */
    const reaches = (principal: Principal, action: Action, customerId: string | null) => {
      const grant = grantOf(principal, action)
      return grant !== undefined && covers(grant, principal, customerId)
    }

    yield* router.get(at("/orders/:orderId"), signedIn((viewer) =>
      Effect.gen(function*() {
        const orderId = (yield* HttpRouter.params).orderId ?? ""
        const denied = may(viewer, "readOrder", "read orders")
        if (Option.isSome(denied)) return yield* denied.value
        const found = yield* visibleOrder(viewer.principal, orderId)
        if (Option.isNone(found)) return yield* problem(orderNotFound(orderId), viewer)
        const { state, version } = found.value
        const search = yield* HttpServerRequest.ParsedSearchParams
        const streamId = streamIdOf(orderAggregate, orderId)

        const history = reaches(viewer.principal, "readHistory", state.customerId)
          ? yield* orLeft(Effect.flatMap(store.readStream(streamId), (events) =>
            Either.match(replayWithChanges(orderAggregate, events), {
              onLeft: (message) => Effect.fail(new Error(message)),
              onRight: Effect.succeed
            })))
          : undefined
        const steps = history?.ok === true ? history.value : []
        const pages = Math.max(1, Math.ceil(steps.length / TIMELINE_PAGE_SIZE))
        const wanted = intParam(firstParam(search, "version"))
        const selectedIndex = wanted !== undefined && wanted >= 1 && wanted <= steps.length ? wanted - 1 : steps.length - 1
        // The page holding the chosen version, unless a page was asked for.
        const pageNumber = Math.min(pages, Math.max(1, intParam(firstParam(search, "page")) ?? Math.floor(Math.max(0, selectedIndex) / TIMELINE_PAGE_SIZE) + 1))
        const selectedStep = steps[selectedIndex]
        const rows = steps.slice((pageNumber - 1) * TIMELINE_PAGE_SIZE, pageNumber * TIMELINE_PAGE_SIZE).map(({ changes, event }): TimelineRow => ({
          version: event.version,
          type: event.type,
          schemaVersion: event.schemaVersion,
          data: event.data,
          metadata: event.metadata,
          recordedAt: event.recordedAt,
          eventId: event.eventId,
          globalPosition: event.globalPosition,
          changes
        }))
        const notifications = reaches(viewer.principal, "readHistory", state.customerId)
          ? yield* orLeft(Effect.provide(notificationsOf(streamId), services))
          : undefined
        const fulfilment = reaches(viewer.principal, "readFulfilment", state.customerId)
          ? yield* orLeft(Effect.map(sagas.read(orderId), (saga) => fulfilmentView(saga.state, saga.version)))
          : undefined
        return yield* respond(orderPage(viewer, {
          orderId,
          state,
          version,
          timeline: history === undefined
            ? undefined
            : history.ok
            ? { ok: true, value: { rows, page: pageNumber, pages, total: steps.length } }
            : history,
          selected: selectedStep === undefined ? undefined : {
            version: selectedStep.event.version,
            of: steps.length,
            state: selectedStep.state,
            type: selectedStep.event.type,
            recordedAt: selectedStep.event.recordedAt
          },
          notifications,
          fulfilment,
          traceUrlTemplate: traceTemplate,
          linkCustomer: reaches(viewer.principal, "listCustomerOrders", state.customerId)
        }))
      })
    ))

    // The state after one version, for the slider (htmx swaps it in); without htmx, the order page.
    yield* router.get(at("/orders/:orderId/state"), signedIn((viewer, request) =>
      Effect.gen(function*() {
        const orderId = (yield* HttpRouter.params).orderId ?? ""
        const search = yield* HttpServerRequest.ParsedSearchParams
        const version = intParam(firstParam(search, "version")) ?? 1
        if (!isHtmx(request)) return seeOther(`${paths.order(orderId)}?version=${version}#state`)
        const found = yield* visibleOrder(viewer.principal, orderId)
        if (Option.isNone(found) || !reaches(viewer.principal, "readHistory", found.value.state.customerId)) {
          return yield* respond(html`<div id="state-view"><p class="notice notice-error">Order ${orderId} was not found.</p></div>`, 404)
        }
        const at = Math.min(Math.max(1, version), found.value.version)
        const snapshot = yield* stateAt(orderAggregate, store, orderId, { _tag: "AtVersion", version: at })
        const [event] = yield* store.readStream(streamIdOf(orderAggregate, orderId), { afterVersion: at - 1, toVersion: at })
        return yield* respond(stateView(orderId, {
          version: snapshot.version,
          of: found.value.version,
          state: snapshot.state,
          type: event?.type ?? "",
          recordedAt: event?.recordedAt ?? new Date(0)
        }))
      })
    ))

    // ---- operating the pipeline (admin) ----

    const adminOnly = (viewer: Viewer) => may(viewer, "operate", "operate the pipeline (its status, dead letters and quarantine)")

    // ---- live events ----

    const liveFilter = (search: Parameters<typeof firstParam>[0]) => ({
      type: (firstParam(search, "type") ?? "").trim(),
      streamType: (firstParam(search, "streamType") ?? "").trim()
    })
    const nameList = (list: string) => list.split(",").map((name) => name.trim()).filter((name) => name !== "")

    yield* router.get(paths.live, signedIn((viewer) =>
      Effect.gen(function*() {
        const denied = may(viewer, "readEventFeed", "follow the live events")
        if (Option.isSome(denied)) return yield* denied.value
        return yield* respond(livePage(viewer, liveFilter(yield* HttpServerRequest.ParsedSearchParams)))
      })
    ))

    /** The feed for the live view: from the log's head, or where a reconnecting EventSource left off. */
    yield* router.get(paths.liveStream, signedIn((viewer, request) =>
      Effect.gen(function*() {
        const denied = may(viewer, "readEventFeed", "follow the live events")
        if (Option.isSome(denied)) return yield* denied.value
        const filter = liveFilter(yield* HttpServerRequest.ParsedSearchParams)
        const resumeFrom = Number(request.headers["last-event-id"] ?? "NaN")
        // A Last-Event-ID this feed did not send (no event's position) starts at the head, not in a loop of failures.
        const resumable = Number.isSafeInteger(resumeFrom) && resumeFrom >= 0 &&
          (yield* Effect.isSuccess(store.readAll({ afterPosition: resumeFrom, limit: 0 })))
        const after = resumable ? resumeFrom : yield* store.headPosition
        // Unnamed frames, so that the page's onmessage hears every one.
        return eventFeedResponse(store, after, { types: nameList(filter.type), streamTypes: nameList(filter.streamType) }, false)
      })
    ))

    yield* router.get(paths.pipeline, signedIn((viewer) =>
      Effect.gen(function*() {
        const denied = adminOnly(viewer)
        if (Option.isSome(denied)) return yield* denied.value
        const now = new Date(yield* Clock.currentTimeMillis)
        const [status, stuck, running] = yield* Effect.all([
          Effect.provide(readStatus, services),
          orLeft(processStore.list("fulfilment", { only: "stuck", now, limit: 50 })),
          orLeft(processStore.list("fulfilment", { only: "open", now, limit: 50 }))
        ], { concurrency: "unbounded" })
        return yield* respond(pipelinePage(viewer, { status, stuck, running }))
      })
    ))

    const showDeadLetters = (viewer: Viewer, notice: Notice | undefined) =>
      Effect.flatMap(orLeft(listDeadLetters(config.amqp.url, names, 100)), (letters) => respond(deadLettersPage(viewer, letters, notice)))

    yield* router.get(paths.deadLetters, signedIn((viewer) => {
      const denied = adminOnly(viewer)
      return Option.isSome(denied) ? denied.value : showDeadLetters(viewer, undefined)
    }))

    yield* router.post(paths.requeue, signedInPost((viewer, form) =>
      Effect.gen(function*() {
        const denied = adminOnly(viewer)
        if (Option.isSome(denied)) return yield* denied.value
        const all = Option.getOrUndefined(UrlParams.getFirst(form, "all")) === "true"
        const eventId = Option.getOrUndefined(UrlParams.getFirst(form, "eventId"))
        if (!all && eventId === undefined) return yield* showDeadLetters(viewer, { tone: "error", text: "Choose a task to requeue." })
        const requeued = yield* orLeft(Effect.provide(requeueDeadLetters(config.amqp.url, names, all ? undefined : [eventId!]), services), "30 seconds")
        yield* Effect.logInfo("console: dead letters re-queued").pipe(
          Effect.annotateLogs({ by: viewer.principal.subject, requeued: requeued.ok ? requeued.value.join(",") : requeued.error })
        )
        const notice: Notice = !requeued.ok
          ? { tone: "error", text: `Nothing was re-queued: ${requeued.error}` }
          : requeued.value.length === 0
          ? { tone: "info", text: "Nothing was re-queued: the task is no longer in the dead-letter queue." }
          : { tone: "success", text: html`Re-queued ${plural(requeued.value.length, "task")}: ${requeued.value.map((id) => html`<code class="id">${id}</code> `)}` }
        return yield* showDeadLetters(viewer, notice)
      })
    ))

    const showQuarantine = (viewer: Viewer, notice: Notice | undefined) =>
      Effect.flatMap(orLeft(quarantine.list()), (parked) => respond(quarantinePage(viewer, parked, notice)))

    yield* router.get(paths.quarantine, signedIn((viewer) => {
      const denied = adminOnly(viewer)
      return Option.isSome(denied) ? denied.value : showQuarantine(viewer, undefined)
    }))

    yield* router.post(paths.retry, signedInPost((viewer, form) =>
      Effect.gen(function*() {
        const denied = adminOnly(viewer)
        if (Option.isSome(denied)) return yield* denied.value
        const entryId = intParam(Option.getOrUndefined(UrlParams.getFirst(form, "id")))
        const waiting = yield* quarantine.list()
        const entry = waiting.find((candidate) => candidate.id === entryId)
        if (entry === undefined) {
          return yield* showQuarantine(viewer, { tone: "info", text: `Entry ${entryId ?? "?"} is not waiting (retried already, or never parked): nothing was done.` })
        }
        const outcome = yield* orLeft(Effect.provide(retryParked(entry), services), "30 seconds")
        yield* Effect.logInfo("console: quarantine entry retried").pipe(
          Effect.annotateLogs({ by: viewer.principal.subject, entry: entry.id, outcome: outcome.ok ? "put back" : outcome.error })
        )
        return yield* showQuarantine(viewer, outcome.ok
          ? { tone: "success", text: `Entry ${entry.id} (${entry.source}) was put back in line.` }
          : { tone: "error", text: `Entry ${entry.id} could not be put back: ${outcome.error}` })
      })
    ))

    // Anything else under /console: a page that says so, rather than the API's JSON 404.
    yield* router.get(at("/*"), counted((session, request) =>
      problem(pageNotFound(request.url.split("?")[0]!), Either.isRight(session) ? viewerOf(session.right) : undefined)
    ))
  })
).pipe(Layer.provide([OutboxStore.layer, QuarantineStore.layer, DeliveryStore.layer, ProcessStore.layer, FetchHttpClient.layer]))

const encodeCursor = (placedAt: string, orderId: string) => Buffer.from(JSON.stringify([placedAt, orderId])).toString("base64url")

const decodeCursor = (text: string | undefined) => {
  if (text === undefined) return undefined
  try {
    const value: unknown = JSON.parse(Buffer.from(text, "base64url").toString("utf8"))
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === "string" && typeof value[1] === "string" &&
      !Number.isNaN(Date.parse(value[0])) && new Date(value[0]).toISOString() === value[0]) {
      return { placedAt: value[0], orderId: value[1] }
    }
  } catch {
    // not one of ours: the first page
  }
  return undefined
}
