/** Signing in (a pasted token, a development token, or the identity provider) and out. */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as UrlParams from "@effect/platform/UrlParams"
import { Effect, Either, Option } from "effect"
import { randomUUID } from "node:crypto"
import * as DevKeys from "../../auth/devKeys.js"
import { consolePrefix } from "../../http/requestGuard.js"
import { checkCsrf, csrfField, csrfTokenOf, newSignInCsrfToken, signInCsrfCookie } from "../csrf.js"
import type { Notice } from "../layout.js"
import { csrfRefused, pageNotFound } from "../pages/problem.js"
import { signedInPage, signInPage } from "../pages/signIn.js"
import { paths } from "../paths.js"
import {
  authorizationUrl,
  flowCookie,
  formTargetsOf,
  flowLifetimeSeconds,
  openFlow,
  randomToken,
  redirectUriFor,
  sealFlow
} from "../oidc.js"
import * as Session from "../session.js"
import { type ConsoleRouter, type ConsoleShell, pageHeaders } from "../shell.js"

/**
 * The sign-in page's headers: its provider form's POST is answered with a redirect to the provider,
 * and a browser holds a form's redirects to `form-action` too, so the provider's origins join 'self'.
 */
const signInPageHeaders = (formTargets: ReadonlyArray<string>) =>
  formTargets.length === 0 ? pageHeaders : {
    ...pageHeaders,
    "content-security-policy": `default-src 'self'; base-uri 'none'; form-action 'self' ${formTargets.join(" ")}; frame-ancestors 'none'`
  }

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

/** Why a visitor is sent to sign in, by a fixed word in the URL (never text from the URL). */
const signInReasons: Record<string, Notice> = {
  expired: { tone: "error", text: "Your session has expired: sign in again." },
  invalid: { tone: "error", text: "Your session's token is no longer accepted: sign in again." },
  unavailable: { tone: "error", text: "The identity provider's keys cannot be fetched right now: try again in a moment." },
  "signed-out": { tone: "success", text: "You are signed out." }
}

export const signInRoutes = (router: ConsoleRouter, shell: ConsoleShell) =>
  Effect.gen(function*() {
    const {
      verifier, config, auth, oidcClient, provider, providerLabel, nowSeconds, problem, counted, respond,
      seeOther, safeNext, UUID, firstParam
    } = shell

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
  })
