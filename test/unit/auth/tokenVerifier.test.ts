/**
 * Token verification against a provider's keys (a local JWKS file): what passes, and each way a
 * token fails, with the reason the client is told.
 */
import { describe, expect, it } from "vitest"
import { Duration, Effect, Either, Redacted } from "effect"
import { randomUUID } from "node:crypto"
import { resolveAuth } from "../../../src/config.js"
import { make, parseJwks } from "../../../src/auth/TokenVerifier.js"
import { audience, authSettings, confusedToken, issuer, token, unsignedToken } from "../../support/auth.js"

const verifier = Effect.runPromise(make(Either.getOrThrow(resolveAuth(authSettings))))

const verify = async (jwt: string) =>
  Effect.runPromise(Effect.either((await verifier).verify(Redacted.make(jwt))))

const refusedAs = async (jwt: string) => {
  const outcome = await verify(jwt)
  if (Either.isRight(outcome)) throw new Error(`accepted: ${JSON.stringify(outcome.right)}`)
  return outcome.left._tag === "InvalidToken" ? { kind: outcome.left.kind, reason: outcome.left.reason } : outcome.left
}

describe("token verification", () => {
  it("a token of the provider gives its subject and the roles of this API among its roles", async () => {
    const subject = randomUUID()
    expect(await verify(await token(subject, { roles: ["customer", "auditor", "staff"] }))).toEqual(
      Either.right({ subject, roles: ["customer", "staff"] })
    )
  })

  it("a token without a roles claim is someone with no role here", async () => {
    expect(await verify(await token("x", { claims: { roles: undefined } }))).toEqual(Either.right({ subject: "x", roles: [] }))
  })

  it("expiry and not-before allow 30 s of clock skew, and no more", async () => {
    expect(Either.isRight(await verify(await token("x", { expiresIn: -10 })))).toBe(true)
    expect(await refusedAs(await token("x", { expiresIn: -120 }))).toEqual({ kind: "expired", reason: "the token has expired" })
    expect(Either.isRight(await verify(await token("x", { notBefore: 10 })))).toBe(true)
    expect(await refusedAs(await token("x", { notBefore: 120 }))).toMatchObject({ kind: "not_yet_valid" })
  })

  const refusals: ReadonlyArray<readonly [name: string, makeToken: () => Promise<string>, kind: string, reason: string]> = [
    ["another issuer", () => token("x", { issuer: "https://evil.example.com" }), "issuer", `not issued by ${issuer}`],
    ["another audience", () => token("x", { audience: "another-api" }), "audience", `not meant for ${audience}`],
    ["a signature by another key", () => token("x", { foreignKey: true }), "signature", "signature does not verify"],
    ["alg: none", async () => unsignedToken("x"), "algorithm", "algorithm is not accepted"],
    ["HS256 keyed with the public key", () => confusedToken("x"), "algorithm", "algorithm is not accepted"],
    ["an unknown key id", () => token("x", { keyId: "nobody" }), "unknown_key", "no key of the issuer"],
    ["no expiry", () => token("x", { expiresIn: null }), "claims", `no "exp" claim`],
    ["roles that are not a list", () => token("x", { claims: { roles: "admin" } }), "claims", "must be an array of strings"],
    ["not a JWT", async () => "abc.def.ghi", "malformed", "not a well-formed signed JWT"]
  ]

  it.each(refusals)("%s is refused", async (_name, makeToken, kind, reason) => {
    const refused = await refusedAs(await makeToken())
    expect(refused).toMatchObject({ kind })
    expect((refused as { reason: string }).reason).toContain(reason)
  })

  it("a token verified before is taken again only while it has not expired", async () => {
    const strict = await Effect.runPromise(make({ ...Either.getOrThrow(resolveAuth(authSettings)), clockSkew: Duration.zero }))
    const check = (jwt: string) => Effect.runPromise(Effect.either(strict.verify(Redacted.make(jwt))))
    const jwt = await token("x", { roles: ["staff"], expiresIn: 1 })
    expect(await check(jwt)).toEqual(Either.right({ subject: "x", roles: ["staff"] }))
    expect(await check(jwt)).toEqual(Either.right({ subject: "x", roles: ["staff"] }))
    await new Promise((resolve) => setTimeout(resolve, 2_100))
    expect(await check(jwt)).toEqual(Either.left(expect.objectContaining({ kind: "expired" })))
  })

  it("a JWKS file must hold public keys only", () => {
    expect(() => parseJwks(JSON.stringify({ keys: [] }), "keys.json")).toThrow(/at least one key/)
    expect(() => parseJwks(JSON.stringify({ keys: [{ kty: "EC", d: "secret" }] }), "keys.json")).toThrow(/private or symmetric/)
    expect(() => parseJwks(JSON.stringify({ keys: [{ kty: "oct", k: "secret" }] }), "keys.json")).toThrow(/private or symmetric/)
    expect(() => parseJwks("[]", "keys.json")).toThrow(/not a JWKS/)
  })
})
