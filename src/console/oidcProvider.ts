/**
 * The console's two calls to the identity provider: its discovery document (fetched when first
 * needed and kept for an hour; a failure is not kept, so the next sign-in asks again), and the
 * exchange of an authorization code for tokens at its token endpoint. Each has a timeout, and each
 * failure says what failed, for the page that shows it.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Clock, Data, Duration, Effect, Either, Option, Redacted, Ref } from "effect"
import { accessTokenOf, type Discovery, discoveryUrl, type OidcClient, parseDiscovery, tokenRequestFields } from "./oidc.js"

/** The provider could not be reached, or answered something the console cannot use. */
export class ProviderUnreachable extends Data.TaggedError("ProviderUnreachable")<{ readonly reason: string }> {}

/** The provider's token endpoint refused the code (a 4xx): signing in again is what may pass. */
export class CodeRefused extends Data.TaggedError("CodeRefused")<{ readonly reason: string }> {}

/** How long a discovery document is kept. */
const discoveryMaxAge = Duration.hours(1)
const discoveryTimeout = Duration.seconds(5)
const tokenTimeout = Duration.seconds(10)

const failureText = (error: unknown) =>
  typeof error === "object" && error !== null && "message" in error && typeof error.message === "string" ? error.message : String(error)

export const make = (client: OidcClient) =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const cached = yield* Ref.make(Option.none<{ readonly discovery: Discovery; readonly fetchedAt: number }>())

    const fetchDiscovery = Effect.gen(function*() {
      const url = discoveryUrl(client.issuer)
      const unreachable = (error: unknown) => new ProviderUnreachable({ reason: `${url}: ${failureText(error)}` })
      const response = yield* http.get(url, { acceptJson: true }).pipe(Effect.mapError(unreachable))
      if (response.status !== 200) return yield* new ProviderUnreachable({ reason: `${url} answered ${response.status}` })
      const document = yield* response.json.pipe(Effect.mapError(unreachable))
      return yield* Either.match(parseDiscovery(document, client.issuer), {
        onLeft: (reason) => Effect.fail(new ProviderUnreachable({ reason })),
        onRight: Effect.succeed
      })
    }).pipe(
      Effect.scoped,
      Effect.timeoutFail({
        duration: discoveryTimeout,
        onTimeout: () => new ProviderUnreachable({ reason: `${discoveryUrl(client.issuer)} did not answer within ${Duration.format(discoveryTimeout)}` })
      })
    )

    /** The provider's endpoints: the kept document while it is fresh, else fetched anew. */
    const discovery = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const kept = yield* Ref.get(cached)
      if (Option.isSome(kept) && now - kept.value.fetchedAt < Duration.toMillis(discoveryMaxAge)) return kept.value.discovery
      const fresh = yield* fetchDiscovery
      yield* Ref.set(cached, Option.some({ discovery: fresh, fetchedAt: now }))
      return fresh
    })

    /** The access token the provider gives for the code (and the verifier that proves this flow began it). */
    const exchange = (request: { readonly code: string; readonly verifier: string; readonly redirectUri: string }) =>
      Effect.gen(function*() {
        const { tokenEndpoint } = yield* discovery
        const response = yield* http.execute(
          HttpClientRequest.post(tokenEndpoint).pipe(
            HttpClientRequest.acceptJson,
            HttpClientRequest.bodyUrlParams(tokenRequestFields({
              ...request,
              clientId: client.clientId,
              clientSecret: Option.getOrUndefined(Option.map(client.clientSecret, Redacted.value))
            }))
          )
        ).pipe(Effect.mapError((error) => new ProviderUnreachable({ reason: `${tokenEndpoint}: ${failureText(error)}` })))
        const body = yield* response.json.pipe(Effect.orElseSucceed(() => undefined))
        return yield* Either.match(accessTokenOf(response.status, body), {
          onRight: Effect.succeed,
          onLeft: (reason) =>
            Effect.fail(
              response.status >= 400 && response.status < 500
                ? new CodeRefused({ reason: `its token endpoint refused the code: ${reason}` })
                : new ProviderUnreachable({ reason: `its token endpoint failed: ${reason}` })
            )
        })
      }).pipe(
        Effect.scoped,
        Effect.timeoutFail({
          duration: tokenTimeout,
          onTimeout: () => new ProviderUnreachable({ reason: `the token endpoint did not answer within ${Duration.format(tokenTimeout)}` })
        })
      )

    return { client, discovery, exchange } as const
  })

export type OidcProvider = Effect.Effect.Success<ReturnType<typeof make>>
