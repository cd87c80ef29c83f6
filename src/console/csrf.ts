/**
 * Cross-site request forgery: every POST of the console carries a token in a hidden field, and comes
 * from the console's own origin (Sec-Fetch-Site, else Origin, when the browser sends them).
 *
 * With a session, the token is an HMAC of the session's bearer token (keyed by it): only who holds
 * the HttpOnly session cookie's value can make it, it says nothing about that value, and any node
 * computes the same one, so the console stays stateless across nodes like its session. Before a
 * session (the sign-in form), a random value in a cookie of its own is posted back (double submit).
 * Pure: the request's headers and values in, a verdict out.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"

/** The hidden field every console form posts its token in. */
export const csrfField = "csrf"

/**
 * The cookie holding the sign-in form's token (there is no session yet to derive it from). It also
 * keys the MAC of the provider sign-in's flow cookie (oidc.ts), so it is SameSite=Lax: it must come
 * back on the provider's redirect to the callback, a cross-site top-level GET. Lax still keeps it
 * off every cross-site POST, so the double submit is as strong as with Strict.
 */
export const signInCsrfCookie = "console_sign_in_csrf"

/**
 * The console's one MAC: HMAC-SHA256 of `message` keyed by a secret the browser holds in an HttpOnly
 * cookie (the session's token; before a session, the sign-in token below), base64url. Any node
 * computes the same one, and only who holds the cookie's value can.
 */
export const macOf = (key: string, message: string): string => createHmac("sha256", key).update(message).digest("base64url")

/** The token forms of this session carry. */
export const csrfTokenOf = (sessionToken: string): string => macOf(sessionToken, "console csrf v1")

/** A random token for the sign-in form. */
export const newSignInCsrfToken = (): string => randomBytes(24).toString("base64url")

/** Equal text, compared in constant time (for tokens, MACs and the sign-in flow's state). */
export const sameText = (a: string, b: string) => {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

/** Why a POST was refused, in words for the page that says so. */
export type CsrfVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string }

/**
 * Whether the request comes from a page of this console: a browser that says where the request came
 * from must say it is this site; one that says nothing (an old browser, a script) is judged by the
 * token alone.
 */
export const sameOrigin = (headers: Readonly<Record<string, string | undefined>>): CsrfVerdict => {
  const site = headers["sec-fetch-site"]
  if (site !== undefined) {
    return site === "same-origin" ? { ok: true } : { ok: false, reason: `the request came from another site (Sec-Fetch-Site: ${site})` }
  }
  const origin = headers["origin"]
  if (origin === undefined || origin === "null") return origin === "null" ? { ok: false, reason: "the request came from an opaque origin" } : { ok: true }
  const host = headers["x-forwarded-host"] ?? headers["host"]
  const originHost = URL.canParse(origin) ? new URL(origin).host : undefined
  return originHost !== undefined && originHost === host
    ? { ok: true }
    : { ok: false, reason: `the request came from ${origin}, not from this console` }
}

/** The origin check, then the token posted against the one expected. */
export const checkCsrf = (
  headers: Readonly<Record<string, string | undefined>>,
  expected: string | undefined,
  posted: string | undefined
): CsrfVerdict => {
  const origin = sameOrigin(headers)
  if (!origin.ok) return origin
  if (posted === undefined || posted === "") return { ok: false, reason: "the form carried no CSRF token" }
  if (expected === undefined || !sameText(expected, posted)) return { ok: false, reason: "the form's CSRF token does not match your session" }
  return { ok: true }
}
