/**
 * An identity provider for tests: a signing key of its own (made when a test file loads), its public
 * key in a JWKS file that servers under test verify against (AUTH_MODE=keys), and tokens for any
 * principal, valid or broken in each way a token can be.
 */
import { Duration, Option } from "effect"
import * as jose from "jose"
import { randomUUID } from "node:crypto"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import type { Role } from "../../src/auth/policy.js"
import type { AppConfigShape } from "../../src/config.js"

export const issuer = "https://identity.test.example"
export const audience = "event-sourced-actors"

const algorithm = "ES256"
const signingKey = await jose.generateKeyPair(algorithm, { extractable: true })
const keyId = `test-${randomUUID()}`

/** The provider's JWKS, as a file. */
export const publicKeysFile = path.join(mkdtempSync(path.join(tmpdir(), "actors-auth-")), "jwks.json")
writeFileSync(publicKeysFile, JSON.stringify({ keys: [{ ...(await jose.exportJWK(signingKey.publicKey)), kid: keyId, alg: algorithm, use: "sig" }] }))

/** The raw AUTH_* settings of a server that trusts this provider. */
export const authSettings: AppConfigShape["auth"] = {
  mode: Option.some("keys"),
  jwksUrl: Option.none(),
  publicKeysFile: Option.some(publicKeysFile),
  issuer: Option.some(issuer),
  audience: Option.some(audience),
  rolesClaim: "roles",
  clockSkew: Duration.seconds(30),
  jwksCooldown: Duration.seconds(30),
  jwksCacheMaxAge: Duration.minutes(10),
  devKeyFile: path.join(tmpdir(), "unused-dev-key.json"),
  production: false
}

/** The environment of a server process that trusts this provider. */
export const authEnvironment = {
  AUTH_MODE: "keys",
  AUTH_PUBLIC_KEYS_FILE: publicKeysFile,
  AUTH_ISSUER: issuer,
  AUTH_AUDIENCE: audience
}

export interface TokenOptions {
  readonly roles?: ReadonlyArray<Role | string>
  /** Seconds from now; negative: expired that long ago; null: no expiry at all. */
  readonly expiresIn?: number | null
  /** Seconds from now the token becomes valid. */
  readonly notBefore?: number
  readonly issuer?: string
  readonly audience?: string
  /** Sign with another key (under this provider's key id): a signature that does not verify. */
  readonly foreignKey?: boolean
  readonly claims?: Record<string, unknown>
  readonly keyId?: string
  readonly privateKey?: jose.CryptoKey
}

const now = () => Math.floor(Date.now() / 1000)
const foreign = await jose.generateKeyPair(algorithm)

/** A token for `subject` signed by this provider (or broken as the options say). */
export const token = async (subject: string, options: TokenOptions = {}): Promise<string> => {
  const jwt = new jose.SignJWT({ roles: options.roles ?? [], ...options.claims })
    .setProtectedHeader({ alg: algorithm, kid: options.keyId ?? keyId, typ: "JWT" })
    .setIssuer(options.issuer ?? issuer)
    .setAudience(options.audience ?? audience)
    .setSubject(subject)
    .setIssuedAt()
  if (options.expiresIn !== null) jwt.setExpirationTime(now() + (options.expiresIn ?? 600))
  if (options.notBefore !== undefined) jwt.setNotBefore(now() + options.notBefore)
  return jwt.sign(options.privateKey ?? (options.foreignKey === true ? foreign.privateKey : signingKey.privateKey))
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")

/** An unsigned token (`alg: none`) that claims everything. */
export const unsignedToken = (subject: string) =>
  `${base64url({ alg: "none", typ: "JWT" })}.${
    base64url({ sub: subject, roles: ["admin"], iss: issuer, aud: audience, exp: now() + 600, iat: now() })
  }.`

/**
 * An HS256 token whose secret is the provider's public key: the algorithm-confusion attack on
 * verifiers that let the token choose how it is checked.
 */
export const confusedToken = async (subject: string) =>
  new jose.SignJWT({ roles: ["admin"] })
    .setProtectedHeader({ alg: "HS256", kid: keyId, typ: "JWT" })
    .setIssuer(issuer)
    .setAudience(audience)
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime(now() + 600)
    .sign(new TextEncoder().encode(JSON.stringify(await jose.exportJWK(signingKey.publicKey))))

export const bearer = (jwt: string) => ({ authorization: `Bearer ${jwt}` })

/** An admin's token, for the tests that are not about access: they act as someone who may do anything. */
export const adminToken = await token(`admin-${randomUUID()}`, { roles: ["admin"], expiresIn: 24 * 3600 })
