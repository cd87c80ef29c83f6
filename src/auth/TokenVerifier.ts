/**
 * Bearer tokens → principals. A token is a JWT signed by the identity provider with an asymmetric
 * key: its signature is checked against the provider's keys (a JWKS URL, a local JWKS file, or the
 * development key), then its issuer, audience, expiry and not-before (with a small leeway for
 * clocks), and it must name a subject. `alg: none` and every shared-secret algorithm are refused, so
 * a public key can never be used as an HMAC secret. Verification is jose's; what is ours is which
 * keys, which checks, and turning each failure into a reason a client can act on.
 */
import { Context, Data, Duration, Effect, Either, Layer, Redacted } from "effect"
import * as jose from "jose"
import { readFile } from "node:fs/promises"
import { AppConfig, type AuthSettings, resolveAuth } from "../config.js"
import * as DevKeys from "./devKeys.js"
import { isRole, type Principal } from "./policy.js"

/**
 * The token does not prove who is calling; `reason` says why, for the client (it holds no secret),
 * and `kind` names the reason in a word, for metrics.
 */
export class InvalidToken extends Data.TaggedError("InvalidToken")<{
  readonly kind: "expired" | "not_yet_valid" | "issuer" | "audience" | "claims" | "algorithm" | "signature" | "unknown_key" | "malformed"
  readonly reason: string
}> {}

/** The provider's keys cannot be had right now (its JWKS does not answer): not the caller's fault. */
export class KeysUnavailable extends Data.TaggedError("KeysUnavailable")<{ readonly message: string }> {}

export interface TokenVerifierShape {
  readonly verify: (token: Redacted.Redacted<string>) => Effect.Effect<Principal, InvalidToken | KeysUnavailable>
  /** Where the keys come from, for the start-up log. */
  readonly keySource: string
}

export class TokenVerifier extends Context.Tag("auth/TokenVerifier")<TokenVerifier, TokenVerifierShape>() {}

/** The signature algorithms OpenID Connect providers sign with; never `none`, never HS*. */
export const acceptedAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"]

type KeyLookup = jose.JWTVerifyGetKey

/** Raised inside a key lookup when the keys themselves cannot be fetched. */
class KeysFetchFailed extends Error {}

const isTokenProblem = (error: unknown) =>
  error instanceof jose.errors.JWKSNoMatchingKey || error instanceof jose.errors.JWKSMultipleMatchingKeys ||
  error instanceof jose.errors.JOSENotSupported || error instanceof jose.errors.JOSEAlgNotAllowed

/**
 * The provider's JWKS, fetched when first needed, again when a token names a key id it does not
 * hold (at most once per cooldown), and after the cache's age. When a refresh fails, the keys
 * already fetched keep verifying: an outage of the provider does not stop tokens it issued before.
 */
const remoteKeys = (settings: Extract<AuthSettings, { _tag: "Jwks" }>): KeyLookup => {
  const remote = jose.createRemoteJWKSet(settings.url, {
    cooldownDuration: Duration.toMillis(settings.cooldown),
    cacheMaxAge: Duration.toMillis(settings.cacheMaxAge),
    timeoutDuration: 5_000
  })
  return async (header, token) => {
    try {
      return await remote(header, token)
    } catch (error) {
      if (isTokenProblem(error)) throw error
      // A key the stale set lacks may be one published since: whether it is valid cannot be told now.
      const known = remote.jwks()
      if (known !== undefined) {
        try {
          return await jose.createLocalJWKSet(known)(header, token)
        } catch (stale) {
          if (!(stale instanceof jose.errors.JWKSNoMatchingKey)) throw stale
        }
      }
      throw new KeysFetchFailed(`the identity provider's keys at ${settings.url.href} cannot be fetched: ${String(error)}`)
    }
  }
}

/** A JWKS document of public keys; one that holds a private key is refused, as a leaked secret. */
export const parseJwks = (text: string, origin: string): jose.JSONWebKeySet => {
  const document = JSON.parse(text) as unknown
  const keys = typeof document === "object" && document !== null && "keys" in document ? document.keys : undefined
  if (!Array.isArray(keys) || keys.length === 0) throw new Error(`${origin} is not a JWKS: it needs {"keys": [ ...at least one key ]}`)
  if (keys.some((key) => typeof key !== "object" || key === null || "d" in key || "k" in key)) {
    throw new Error(`${origin} holds a private or symmetric key: a verifier needs public keys only; keep private keys elsewhere`)
  }
  return { keys } as jose.JSONWebKeySet
}

interface Keys {
  readonly lookup: KeyLookup
  /** Keys read once, never to change while the process runs (a file, the development key). */
  readonly fixed: boolean
  readonly source: string
}

const keysOf = (settings: AuthSettings): Effect.Effect<Keys, Error> => {
  switch (settings._tag) {
    case "Jwks":
      return Effect.succeed({ lookup: remoteKeys(settings), fixed: false, source: `the JWKS at ${settings.url.href}` })
    case "Keys":
      return Effect.tryPromise({
        try: async () => parseJwks(await readFile(settings.file, "utf8"), settings.file),
        catch: (error) => new Error(`AUTH_PUBLIC_KEYS_FILE=${settings.file}: ${error instanceof Error ? error.message : String(error)}`)
      }).pipe(Effect.map((jwks) => ({ lookup: jose.createLocalJWKSet(jwks), fixed: true, source: `the keys in ${settings.file}` })))
    case "Dev":
      return DevKeys.loadOrCreate(settings.keyFile).pipe(
        Effect.tap(({ created }) =>
          Effect.logWarning(
            `development tokens: ${created ? "generated a key pair into" : "the key pair in"} ${settings.keyFile} signs and ` +
              "verifies them; `make token ROLE=<customer|staff|admin|service> SUBJECT=<id>` prints one. " +
              "Not for production: set AUTH_JWKS_URL (or AUTH_PUBLIC_KEYS_FILE), AUTH_ISSUER and AUTH_AUDIENCE"
          )
        ),
        Effect.map(({ key }) => ({
          lookup: jose.createLocalJWKSet({ keys: [DevKeys.publicJwk(key)] }),
          fixed: true,
          source: `the development key in ${settings.keyFile}`
        })),
        Effect.mapError((error) => new Error(error.message))
      )
  }
}

const invalid = (kind: InvalidToken["kind"], reason: string) => new InvalidToken({ kind, reason })

const claimFailure = (error: jose.errors.JWTClaimValidationFailed, settings: AuthSettings) => {
  if (error.reason === "missing") return invalid("claims", `the token has no "${error.claim}" claim`)
  switch (error.claim) {
    case "iss":
      return invalid("issuer", `the token was not issued by ${settings.issuer}`)
    case "aud":
      return invalid("audience", `the token is not meant for ${settings.audience}`)
    case "nbf":
      return invalid("not_yet_valid", "the token is not valid yet (nbf is in the future)")
    default:
      return invalid("claims", `the token's "${error.claim}" claim is not valid: ${error.message}`)
  }
}

/** Why a token was refused, in words for the client; or that the keys could not be had. */
const failureOf = (error: unknown, settings: AuthSettings): InvalidToken | KeysUnavailable => {
  if (error instanceof KeysFetchFailed) return new KeysUnavailable({ message: error.message })
  if (error instanceof jose.errors.JWTExpired) return invalid("expired", "the token has expired")
  if (error instanceof jose.errors.JWTClaimValidationFailed) return claimFailure(error, settings)
  if (error instanceof jose.errors.JOSEAlgNotAllowed || error instanceof jose.errors.JOSENotSupported) {
    return invalid("algorithm", `the token's algorithm is not accepted (accepted: ${acceptedAlgorithms.join(", ")})`)
  }
  if (error instanceof jose.errors.JWSSignatureVerificationFailed) return invalid("signature", "the token's signature does not verify")
  if (error instanceof jose.errors.JWKSNoMatchingKey) return invalid("unknown_key", "no key of the issuer matches the token's key id (kid)")
  if (error instanceof jose.errors.JWKSMultipleMatchingKeys) {
    return invalid("unknown_key", "the token names no key id (kid) and the issuer has several keys")
  }
  return invalid("malformed", "the token is not a well-formed signed JWT")
}

/** The principal a verified token names: its subject, and the roles of this API in its roles claim. */
export const principalOf = (payload: jose.JWTPayload, rolesClaim: string): Principal | InvalidToken => {
  const subject = payload.sub
  if (typeof subject !== "string" || subject.length === 0 || subject.length > 255) {
    return invalid("claims", "the token's subject (sub) must be 1 to 255 characters")
  }
  const claimed = payload[rolesClaim] ?? []
  if (!Array.isArray(claimed) || claimed.some((role) => typeof role !== "string")) {
    return invalid("claims", `the token's "${rolesClaim}" claim must be an array of strings`)
  }
  return { subject, roles: (claimed as ReadonlyArray<string>).filter(isRole) }
}

/** A token verified before: who it names, and the key that verified it, under the header that named the key. */
interface Verified {
  readonly principal: Principal
  readonly header: jose.JWTHeaderParameters
  readonly key: unknown
  readonly expiresAt: number
}

/** Verified tokens kept; past it, the least recently used goes (and is verified again when it comes back). */
const MAX_VERIFIED = 10_000

export const make = (settings: AuthSettings) =>
  Effect.gen(function*() {
    const keys = yield* keysOf(settings)
    const tolerance = Duration.toSeconds(settings.clockSkew)
    const options: jose.JWTVerifyOptions = {
      issuer: settings.issuer,
      audience: settings.audience,
      algorithms: acceptedAlgorithms,
      clockTolerance: tolerance,
      requiredClaims: ["exp", "sub"]
    }

    /**
     * Checking a signature is most of what a request costs the edge (hundreds of microseconds for
     * ES256 or RS256), and a client sends the same token for as long as it is valid. So a token
     * verified before is taken again without its signature checked, for as long as its expiry
     * allows (the wall clock, as jose reads it) and as long as its key id still resolves to the very
     * key that verified it: a key the provider removed, or keys fetched again, make it verified
     * anew. Claims other than the expiry cannot change with time once they passed.
     */
    const verified = new Map<string, Verified>()
    // (A Map iterates in insertion order: a token is taken out when used, and put back last.)
    const remember = (text: string, entry: Verified) => {
      verified.set(text, entry)
      if (verified.size > MAX_VERIFIED) verified.delete(verified.keys().next().value!)
    }

    const verifyAnew = async (text: string): Promise<Principal | InvalidToken> => {
      let used: { header: jose.JWTHeaderParameters; key: unknown } | undefined
      const { payload } = await jose.jwtVerify(text, async (header, token) => {
        const key = await keys.lookup(header, token)
        used = { header, key }
        return key
      }, options)
      const principal = principalOf(payload, settings.rolesClaim)
      if (!(principal instanceof InvalidToken) && used !== undefined) remember(text, { principal, ...used, expiresAt: payload.exp! })
      return principal
    }

    // The wall clock, not Effect's: jose checks a token's expiry against it, and so must its cache.
    const unexpired = (entry: Verified) => entry.expiresAt > Math.floor(Date.now() / 1000) - tolerance

    /** A token seen before whose key may have changed since (a JWKS fetched again): its key must still be the one. */
    const check = async (text: string, known: Verified | undefined): Promise<Principal | InvalidToken> => {
      if (known !== undefined && (await keys.lookup(known.header, undefined as never)) === known.key) {
        remember(text, known)
        return known.principal
      }
      return verifyAnew(text)
    }

    const verify: TokenVerifierShape["verify"] = (token) =>
      Effect.suspend(() => {
        const text = Redacted.value(token)
        const seen = verified.get(text)
        verified.delete(text)
        const valid = seen !== undefined && unexpired(seen) ? seen : undefined
        // Keys that never change need no look: the token is what it was.
        if (valid !== undefined && keys.fixed) {
          remember(text, valid)
          return Effect.succeed(valid.principal)
        }
        return Effect.tryPromise({
          try: () => check(text, valid),
          catch: (error) => failureOf(error, settings)
        }).pipe(Effect.flatMap((principal) => principal instanceof InvalidToken ? Effect.fail(principal) : Effect.succeed(principal)))
      })
    return TokenVerifier.of({ verify, keySource: keys.source })
  })

/** The AUTH_* settings as one consistent choice; start-up fails, saying which to set, when they are not. */
export const authSettings = Effect.flatMap(AppConfig, (config) =>
  Either.match(resolveAuth(config.auth), {
    onLeft: (message) => Effect.fail(new Error(message)),
    onRight: Effect.succeed
  }))

/** The verifier the settings describe; start-up fails, naming the setting, when its keys cannot be read. */
export const layer = Layer.effect(
  TokenVerifier,
  Effect.flatMap(authSettings, make).pipe(
    Effect.tap((verifier) => Effect.logInfo(`bearer tokens are verified against ${verifier.keySource}`)),
    Effect.orDieWith((error) => error)
  )
)
