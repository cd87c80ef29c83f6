/**
 * The console's session: the bearer token itself, kept in a cookie (HttpOnly, Secure,
 * SameSite=Strict, Path=/console) for as long as the token is valid, so that any node of the
 * cluster can serve any request (nothing is kept on the server). Every request verifies it again
 * with the API's TokenVerifier: the console grants exactly what the token grants the API.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Data, Effect, Redacted } from "effect"
import * as jose from "jose"
import type { Principal } from "../auth/policy.js"
import type { TokenVerifierShape } from "../auth/TokenVerifier.js"
import { consolePrefix } from "../http/requestGuard.js"

export const sessionCookie = "console_session"

export interface Session {
  readonly token: string
  readonly principal: Principal
  /** When the token expires, in seconds since the epoch. */
  readonly expiresAt: number
}

/** No session to serve this request with; `message` says why, on the sign-in page. */
export class SignedOut extends Data.TaggedError("SignedOut")<{
  readonly reason: "none" | "expired" | "invalid" | "unavailable"
  readonly message: string
}> {}

/** The token's expiry, read after the verifier accepted it (which requires one). */
const expiryOf = (token: string): number => {
  const exp = jose.decodeJwt(token).exp
  return typeof exp === "number" ? exp : 0
}

/** The session a token opens, or why it opens none. */
export const open = (verifier: TokenVerifierShape, token: string): Effect.Effect<Session, SignedOut> =>
  verifier.verify(Redacted.make(token)).pipe(
    Effect.map((principal) => ({ token, principal, expiresAt: expiryOf(token) })),
    Effect.mapError((error) =>
      error._tag === "KeysUnavailable"
        ? new SignedOut({ reason: "unavailable", message: `the identity provider's keys cannot be had right now: ${error.message}` })
        : error.kind === "expired"
        ? new SignedOut({ reason: "expired", message: "your session has expired: sign in again" })
        : new SignedOut({ reason: "invalid", message: `the token was refused: ${error.reason}` })
    )
  )

/** The session of a request's cookie. */
export const fromCookies = (verifier: TokenVerifierShape, cookies: Readonly<Record<string, string>>) => {
  const token = cookies[sessionCookie]
  return token === undefined || token === ""
    ? Effect.fail(new SignedOut({ reason: "none", message: "sign in to use the console" }))
    : open(verifier, token)
}

const cookieOptions = { httpOnly: true, secure: true, sameSite: "strict", path: consolePrefix } as const

/** Keeps the session in the response's cookie for the token's remaining lifetime. */
export const keep = (response: HttpServerResponse.HttpServerResponse, session: Session, nowSeconds: number) =>
  HttpServerResponse.unsafeSetCookie(response, sessionCookie, session.token, {
    ...cookieOptions,
    maxAge: `${Math.max(1, session.expiresAt - nowSeconds)} seconds`
  })

/** Ends the session: the browser drops the cookie. */
export const end = (response: HttpServerResponse.HttpServerResponse) =>
  HttpServerResponse.expireCookie(response, sessionCookie, cookieOptions)
