/**
 * Signing in to the web console with the identity provider, in a real browser (headless Chromium),
 * against a stand-in provider of this test: discovery, an /authorize that checks the request and
 * sends the browser back with a one-time code, and a /token that checks the code, the redirect URI,
 * the client and the PKCE verifier against the challenge it was given, and answers a token signed
 * with the key the server under test trusts. The provider is at `localhost`, the console at
 * `127.0.0.1`: two sites, so the browser treats the way back as the cross-site navigation it is
 * (SameSite cookies included). Covered: the whole flow, a provider that cannot be reached, a
 * tampered or missing state, a wrong verifier, the provider's access_denied, and the flow cookie's
 * attributes. Screenshots go to test-artifacts/console/.
 */
import { expect, it as effectIt, layer } from "@effect/vitest"
import { Cause, ConfigError, Duration, Effect, Exit, Layer, Option } from "effect"
import { createHash, randomUUID } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import type { Page } from "playwright-core"
import { afterAll } from "vitest"
import { configProblems } from "../../src/config.js"
import { authSettings, token } from "../support/auth.js"
import { devAuthSettings, screenshot, sharedBrowser } from "../support/console.js"
import { BaseUrl, serverLayer } from "../support/http.js"

const clientId = "orders-console"

/** What the stand-in does on the next /authorize or discovery request. */
interface Behaviour {
  discoveryDown: boolean
  /** Sends the browser back with this error instead of a code. */
  deny: boolean
  /** Sends the browser back with a state other than the one it was given. */
  wrongState: boolean
  /** Keeps another challenge than the one it was given: the console's verifier will not match. */
  otherChallenge: boolean
  /** Shows a page with a link back instead of redirecting at once (for looking at cookies). */
  pause: boolean
  /** The subject and roles of the next token. */
  subject: string
  roles: ReadonlyArray<string>
}

interface Grant {
  readonly challenge: string
  readonly redirectUri: string
  readonly subject: string
  readonly roles: ReadonlyArray<string>
}

/** The stand-in provider: a node HTTP server on a free port, on every loopback address (`localhost`). */
const startProvider = () =>
  new Promise<{ issuer: string; behaviour: Behaviour; tokenRequests: Array<Record<string, string>>; close: () => void }>((resolve) => {
    const behaviour: Behaviour = {
      discoveryDown: false,
      deny: false,
      wrongState: false,
      otherChallenge: false,
      pause: false,
      subject: "staff-oidc",
      roles: ["staff"]
    }
    const grants = new Map<string, Grant>()
    const tokenRequests: Array<Record<string, string>> = []
    let issuer = ""
    const json = (response: import("node:http").ServerResponse, status: number, body: unknown) =>
      response.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(body))

    const server = createServer((request, response) => {
      const url = new URL(request.url ?? "/", issuer)
      if (request.method === "GET" && url.pathname === "/.well-known/openid-configuration") {
        if (behaviour.discoveryDown) return response.writeHead(503).end()
        return json(response, 200, {
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          response_types_supported: ["code"],
          code_challenge_methods_supported: ["S256"]
        })
      }
      if (request.method === "GET" && url.pathname === "/authorize") {
        const query = Object.fromEntries(url.searchParams)
        const redirectUri = query["redirect_uri"] ?? ""
        const problems = [
          query["client_id"] !== clientId && "client_id",
          !/^http:\/\/127\.0\.0\.1:\d+\/console\/sign-in\/callback$/.test(redirectUri) && "redirect_uri",
          query["response_type"] !== "code" && "response_type",
          query["code_challenge_method"] !== "S256" && "code_challenge_method",
          !/^[A-Za-z0-9_-]{43}$/.test(query["code_challenge"] ?? "") && "code_challenge",
          (query["state"] ?? "") === "" && "state"
        ].filter((problem) => problem !== false)
        if (problems.length > 0) return response.writeHead(400, { "content-type": "text/plain" }).end(`bad ${problems.join(", ")}`)
        const back = new URL(redirectUri)
        back.searchParams.set("state", behaviour.wrongState ? `${query["state"]}-tampered` : query["state"]!)
        if (behaviour.deny) {
          back.searchParams.set("error", "access_denied")
          back.searchParams.set("error_description", "The user declined to sign in")
        } else {
          const code = randomUUID()
          grants.set(code, {
            challenge: behaviour.otherChallenge ? createHash("sha256").update("another verifier").digest("base64url") : query["code_challenge"]!,
            redirectUri,
            subject: behaviour.subject,
            roles: behaviour.roles
          })
          back.searchParams.set("code", code)
        }
        if (behaviour.pause) {
          return response.writeHead(200, { "content-type": "text/html" }).end(`<!doctype html><title>Provider</title><a href="${back.href.replaceAll("&", "&amp;")}">Back to the console</a>`)
        }
        return response.writeHead(302, { location: back.href }).end()
      }
      if (request.method === "POST" && url.pathname === "/token") {
        let body = ""
        request.on("data", (chunk) => (body += chunk))
        request.on("end", async () => {
          const form = Object.fromEntries(new URLSearchParams(body))
          tokenRequests.push(form)
          if (request.headers["content-type"] !== "application/x-www-form-urlencoded") {
            return json(response, 400, { error: "invalid_request", error_description: "send a form" })
          }
          const grant = grants.get(form["code"] ?? "")
          // A code is good once.
          grants.delete(form["code"] ?? "")
          const refused = (description: string) => json(response, 400, { error: "invalid_grant", error_description: description })
          if (form["grant_type"] !== "authorization_code") return json(response, 400, { error: "unsupported_grant_type" })
          if (grant === undefined) return refused("unknown or used code")
          if (form["redirect_uri"] !== grant.redirectUri) return refused("redirect_uri differs")
          if (form["client_id"] !== clientId) return json(response, 401, { error: "invalid_client" })
          const verifier = form["code_verifier"] ?? ""
          if (createHash("sha256").update(verifier).digest("base64url") !== grant.challenge) return refused("PKCE verification failed")
          const accessToken = await token(grant.subject, { issuer, roles: grant.roles, expiresIn: 3600 })
          return json(response, 200, { access_token: accessToken, token_type: "Bearer", expires_in: 3600 })
        })
        return
      }
      response.writeHead(404).end()
    })
    server.listen(0, () => {
      issuer = `http://localhost:${(server.address() as AddressInfo).port}`
      resolve({ issuer, behaviour, tokenRequests, close: () => server.close() })
    })
  })

const provider = await startProvider()
const providerHost = new URL(provider.issuer).host

// Read by the application's settings when the server below is built.
process.env["CONSOLE_OIDC_CLIENT_ID"] = clientId

const { asUser } = sharedBrowser()
afterAll(() => provider.close())

/** The stand-in's behaviour for one test: every switch off unless given. */
const behave = (changes: Partial<Behaviour>) =>
  Object.assign(provider.behaviour, {
    discoveryDown: false,
    deny: false,
    wrongState: false,
    otherChallenge: false,
    pause: false,
    subject: `staff-${randomUUID()}`,
    roles: ["staff"],
    ...changes
  })

const atProvider = (url: URL) => url.href.startsWith(`${provider.issuer}/authorize?`)

const signInWithProvider = (page: Page) => page.getByRole("button", { name: `Sign in with ${providerHost}` }).click()

/** The sign-in page's notice, once the flow came back to it. */
const notice = (page: Page) => page.getByRole("status").locator(".notice-error")

layer(serverLayer({ auth: { ...authSettings, issuer: Option.some(provider.issuer) } }), { excludeTestServices: true, timeout: Duration.minutes(2) })(
  "the web console signing in with the identity provider",
  (it) => {
    // First: the discovery document is kept once fetched.
    it.effect("a provider that cannot be reached is a page that says so, not a 500", () =>
      asUser(async (page) => {
        behave({ discoveryDown: true })
        await page.goto("/console/sign-in")
        await signInWithProvider(page)
        await notice(page).getByText(`${providerHost} cannot be reached right now`).waitFor()
        expect(await notice(page).textContent()).toMatch(/answered 503.*Try again in a moment, or paste a token/)
        await screenshot(page, "oidc-provider-unreachable")
      }))

    it.effect("signs in at the provider and comes back signed in, to the page first asked for", () =>
      Effect.gen(function*() {
        const subject = `staff-${randomUUID()}`
        behave({ subject, pause: true })
        const requestsBefore = provider.tokenRequests.length
        yield* asUser(async (page) => {
          // Asked for a page while signed out: sign-in, then back to it.
          await page.goto("/console/live")
          await page.waitForURL(/\/console\/sign-in/)
          await page.getByRole("heading", { name: "Your identity provider" }).waitFor()
          await screenshot(page, "sign-in-with-provider")
          await signInWithProvider(page)
          await page.waitForURL(atProvider)
          const flow = (await page.context().cookies()).find((cookie) => cookie.name === "console_oidc_flow")!
          expect(flow).toMatchObject({ httpOnly: true, secure: true, sameSite: "Lax", path: "/console/sign-in" })
          expect(flow.expires - Date.now() / 1000).toBeGreaterThan(550)
          expect(flow.expires - Date.now() / 1000).toBeLessThanOrEqual(600)
          await page.getByRole("link", { name: "Back to the console" }).click()

          await page.waitForURL(/\/console\/live$/)
          await page.getByRole("button", { name: "Sign out" }).waitFor()
          expect(await page.getByRole("banner").textContent()).toMatch(new RegExp(`Signed in as\\s+${subject}\\s+staff`))
          const cookies = await page.context().cookies()
          expect(cookies.some((cookie) => cookie.name === "console_oidc_flow")).toBe(false)
          expect(cookies.find((cookie) => cookie.name === "console_session")).toMatchObject({ httpOnly: true, secure: true, sameSite: "Strict" })
          await screenshot(page, "oidc-signed-in")
        })
        const exchange = provider.tokenRequests.slice(requestsBefore)
        expect(exchange).toHaveLength(1)
        expect(exchange[0]).toMatchObject({ grant_type: "authorization_code", client_id: clientId, code_verifier: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) })
        expect(exchange[0]!["client_secret"]).toBeUndefined()
      }))

    it.effect("straight through: the provider redirects back at once, and the console follows on to its home", () =>
      asUser(async (page) => {
        const subject = `staff-${randomUUID()}`
        behave({ subject })
        await page.goto("/console/sign-in")
        await signInWithProvider(page)
        await page.getByRole("button", { name: "Sign out" }).waitFor()
        expect(new URL(page.url()).pathname).toBe("/console")
        expect(await page.getByRole("banner").textContent()).toContain(subject)
      }))

    it.effect("a state that is not the one sent, or a callback this browser did not start, is refused", () =>
      Effect.gen(function*() {
        const base = yield* BaseUrl
        yield* asUser(async (page) => {
          behave({ wrongState: true })
          await page.goto("/console/sign-in")
          await signInWithProvider(page)
          await notice(page).getByText(/its state differs/).waitFor()
          expect(await notice(page).textContent()).toContain("Try again, or paste a token.")
          await screenshot(page, "oidc-state-refused")
          expect(await page.getByRole("button", { name: "Sign out" }).count()).toBe(0)

          // No flow cookie at all: a callback URL opened from elsewhere.
          const stray = await page.goto(`${base}/console/sign-in/callback?code=${randomUUID()}&state=${randomUUID()}`)
          expect(stray?.status()).toBe(400)
          await notice(page).getByText(/holds no sign-in it started here/).waitFor()

          // A flow cookie changed by hand no longer carries the console's signature.
          behave({ pause: true })
          await page.goto("/console/sign-in")
          await signInWithProvider(page)
          await page.waitForURL(atProvider)
          const flow = (await page.context().cookies()).find((cookie) => cookie.name === "console_oidc_flow")!
          await page.context().addCookies([{ ...flow, value: `e30.${flow.value.split(".")[1]}` }])
          await page.getByRole("link", { name: "Back to the console" }).click()
          await notice(page).getByText(/does not carry this console's signature/).waitFor()
        })
      }))

    it.effect("a verifier that does not match the challenge is refused by the provider, and shown as a failed sign-in", () =>
      asUser(async (page) => {
        behave({ otherChallenge: true })
        await page.goto("/console/sign-in")
        await signInWithProvider(page)
        await notice(page).getByText(/refused the code: 400 invalid_grant: PKCE verification failed/).waitFor()
        expect(await page.getByRole("heading", { name: "Sign in", level: 1 }).count()).toBe(1)
        await screenshot(page, "oidc-verifier-refused")
      }))

    it.effect("the provider's access_denied is shown, with what to do", () =>
      asUser(async (page) => {
        behave({ deny: true })
        await page.goto("/console/sign-in")
        const answer = page.waitForResponse((response) => response.url().includes("/console/sign-in/callback"))
        await signInWithProvider(page)
        expect((await answer).status()).toBe(403)
        await notice(page).getByText(/the provider answered access_denied \(“The user declined to sign in”\)\. Try again, or paste a token\./).waitFor()
        expect((await page.context().cookies()).some((cookie) => cookie.name === "console_oidc_flow")).toBe(false)
        await screenshot(page, "oidc-access-denied")
      }))
  }
)

effectIt.live("start-up is refused, in one line naming the variables, when the API has no provider to sign in with", () =>
  Effect.gen(function*() {
    const devAuth = devAuthSettings()
    const exit = yield* Effect.exit(Effect.scoped(Layer.build(serverLayer({ auth: devAuth }))))
    expect(Exit.isFailure(exit)).toBe(true)
    const problems = Exit.isFailure(exit)
      ? [...Cause.defects(exit.cause)].filter(ConfigError.isConfigError).flatMap(configProblems)
      : []
    expect(problems).toEqual([expect.stringMatching(/^CONSOLE_OIDC_CLIENT_ID needs .*AUTH_MODE=jwks.*AUTH_MODE=keys.*AUTH_ISSUER/)])
  }), { timeout: 60_000 })
