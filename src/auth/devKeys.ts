/**
 * Development keys: an ES256 key pair generated once into a file of the git-ignored data folder,
 * so that `make run` needs no identity provider and `make token` can sign tokens it accepts. The
 * file holds the private key; it is written readable by its owner only.
 */
import { Data, Effect } from "effect"
import * as jose from "jose"
import { mkdir, readFile, rename, writeFile } from "node:fs/promises"
import { dirname } from "node:path"
import { randomUUID } from "node:crypto"
import type { Role } from "./policy.js"

export class DevKeyError extends Data.TaggedError("DevKeyError")<{ readonly message: string }> {}

export interface DevSigningKey {
  /** The private key as a JWK, with its key id and algorithm. */
  readonly privateJwk: jose.JWK
}

const algorithm = "ES256"

/** The public half, as it goes into a JWKS. */
export const publicJwk = (key: DevSigningKey): jose.JWK => {
  const { d: _d, ...publicPart } = key.privateJwk
  return { ...publicPart, use: "sig" }
}

const generate = Effect.promise(async (): Promise<DevSigningKey> => {
  const { privateKey } = await jose.generateKeyPair(algorithm, { extractable: true })
  return { privateJwk: { ...(await jose.exportJWK(privateKey)), kid: `dev-${randomUUID()}`, alg: algorithm } }
})

const read = (file: string) =>
  Effect.tryPromise({
    try: async () => JSON.parse(await readFile(file, "utf8")) as DevSigningKey,
    catch: (error) => new DevKeyError({ message: `cannot read the development key ${file}: ${String(error)}` })
  })

/**
 * The development key in `file`, generated and written there first when there is none. Two
 * processes starting together each write a complete file and rename it into place; whichever lands
 * last is the key, and both read it back.
 */
export const loadOrCreate = (file: string): Effect.Effect<{ readonly key: DevSigningKey; readonly created: boolean }, DevKeyError> =>
  Effect.gen(function*() {
    const existing = yield* Effect.either(read(file))
    if (existing._tag === "Right") return { key: existing.right, created: false }
    const key = yield* generate
    yield* Effect.tryPromise({
      try: async () => {
        await mkdir(dirname(file), { recursive: true })
        const partial = `${file}.${process.pid}.tmp`
        await writeFile(partial, JSON.stringify(key, null, 2), { mode: 0o600 })
        await rename(partial, file)
      },
      catch: (error) => new DevKeyError({ message: `cannot write the development key ${file}: ${String(error)}` })
    })
    return { key: yield* read(file), created: true }
  })

export interface TokenClaims {
  readonly issuer: string
  readonly audience: string
  readonly subject: string
  readonly roles: ReadonlyArray<Role>
  readonly rolesClaim: string
  readonly ttlSeconds: number
}

/** A token signed with the development key, as an identity provider would issue it. */
export const signToken = (key: DevSigningKey, claims: TokenClaims): Effect.Effect<string> =>
  Effect.promise(async () =>
    new jose.SignJWT({ [claims.rolesClaim]: claims.roles })
      .setProtectedHeader({ alg: algorithm, kid: key.privateJwk.kid!, typ: "JWT" })
      .setIssuer(claims.issuer)
      .setAudience(claims.audience)
      .setSubject(claims.subject)
      .setIssuedAt()
      .setExpirationTime(`${claims.ttlSeconds}s`)
      .sign(await jose.importJWK(key.privateJwk, algorithm))
  )
