/**
 * How a command arrives over HTTP, for every aggregate's endpoints: the headers it accepts
 * (If-Match, Idempotency-Key, correlation and causation ids), the name it is given, who it is
 * recorded for, and how its answer is shaped (ETag, X-Correlation-Id, Retry-After on 503).
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Clock, Effect, Schema } from "effect"
import { createHash, randomUUID } from "node:crypto"
import type { EventMetadata } from "../eventstore/EventStore.js"
import type { ActorSystem } from "../runtime/ActorSystem.js"
import type { CommandOptions } from "../runtime/AggregateActor.js"
import { commandIdForKey } from "../runtime/commandIds.js"
import { NotModified, toHttpError, Unavailable } from "./errors.js"
import { Caller, type CallerShape } from "./security.js"

/** `If-Match: "<version>"`: the command applies only if the aggregate is still at that version. */
export const IfMatch = Schema.String.pipe(
  Schema.pattern(/^"(0|[1-9][0-9]{0,9})"$/, {
    message: () => "If-Match must be an ETag from this API, a quoted version such as \"3\""
  })
)

const Token = (name: string, maxLength: number) =>
  Schema.String.pipe(
    Schema.pattern(new RegExp(`^[\\x21-\\x7e]{1,${maxLength}}$`), {
      message: () => `${name} must be 1 to ${maxLength} visible ASCII characters`
    })
  )

/**
 * Headers every command accepts: tracing context for the events' metadata, and idempotency (who
 * did it comes from the token).
 */
const commandHeaderFields = {
  "idempotency-key": Schema.optional(Token("Idempotency-Key", 255)),
  "x-correlation-id": Schema.optional(Token("X-Correlation-Id", 128)),
  "x-causation-id": Schema.optional(Token("X-Causation-Id", 128))
}
export const CreateHeaders = Schema.Struct(commandHeaderFields)
export const UpdateHeaders = Schema.Struct({ ...commandHeaderFields, "if-match": Schema.optional(IfMatch) })

export interface CommandHeaders {
  readonly "idempotency-key"?: string | undefined
  readonly "x-correlation-id"?: string | undefined
  readonly "x-causation-id"?: string | undefined
  readonly "if-match"?: string | undefined
}

export const setHeader = (name: string, value: string) =>
  HttpApp.appendPreResponseHandler((_request, response) => Effect.succeed(HttpServerResponse.setHeader(response, name, value)))

/** Several headers of the answer at once: one pre-response handler, not one each. */
export const setHeaders = (headers: Readonly<Record<string, string>>) =>
  HttpApp.appendPreResponseHandler((_request, response) => Effect.succeed(HttpServerResponse.setHeaders(response, headers)))

export const etag = (version: number) => `"${version}"`

export const nowIso = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis).toISOString())

/**
 * `If-None-Match`: entity tags, or `*` (RFC 9110 §13.1.2). A GET whose current ETag is among them
 * answers 304 Not Modified, without a body.
 */
export const IfNoneMatch = Schema.String.pipe(
  Schema.pattern(/^(\*|(W\/)?"[\x21\x23-\x7e]*"( *, *(W\/)?"[\x21\x23-\x7e]*")*)$/, {
    message: () => "If-None-Match must be * or a list of ETags such as \"3\""
  })
)
export const ConditionalReadHeaders = Schema.Struct({ "if-none-match": Schema.optional(IfNoneMatch) })

/** Weak comparison, as RFC 9110 asks of If-None-Match: W/"3" matches "3". */
const matchesAny = (ifNoneMatch: string, current: string) =>
  ifNoneMatch.trim() === "*" ||
  ifNoneMatch.split(",").some((tag) => tag.trim().replace(/^W\//, "") === current)

/**
 * Sets the ETag of what a GET answers, and fails with 304 when the caller already has it (the ETag
 * goes with the 304 too).
 */
export const answerWithEtag = (version: number, ifNoneMatch: string | undefined) =>
  Effect.gen(function*() {
    const current = etag(version)
    // Stored by the caller, revalidated before each use: never served from a shared cache.
    yield* setHeaders({ etag: current, "cache-control": "private, no-cache" })
    if (ifNoneMatch !== undefined && matchesAny(ifNoneMatch, current)) return yield* Effect.fail(new NotModified())
  })

/** Whose idempotency keys these are: the caller's, so that two callers' equal keys never meet. */
export const callerScope = (caller: CallerShape) => `subject:${caller.principal.subject}`

/**
 * Who asked, and which command this is: named here, once per request (from the caller's
 * Idempotency-Key when there is one, so that a retry with it is the same command), so that the
 * command decided twice — its node died before it answered, and the cluster sent it again — is
 * stored once.
 */
const metadataFrom = (headers: CommandHeaders, caller: CallerShape): EventMetadata => ({
  commandId: headers["idempotency-key"] === undefined ? randomUUID() : commandIdForKey(callerScope(caller), headers["idempotency-key"]),
  correlationId: headers["x-correlation-id"] ?? randomUUID(),
  causationId: headers["x-causation-id"] ?? null,
  userId: caller.principal.subject,
  role: caller.grant.role
})

/** Fingerprint of a request, so that an Idempotency-Key reused for a different request is refused. */
const requestHash = (route: string, id: string, payload: unknown) =>
  createHash("sha256").update(`${route}\n${id}\n${JSON.stringify(payload ?? null)}`).digest("hex")

export interface CommandRequest<Command> {
  readonly noun: string
  /** Names the endpoint in the request's fingerprint. */
  readonly route: string
  readonly id: string
  readonly headers: CommandHeaders
  readonly payload: unknown
  readonly command: (at: string) => Command
  /** The command creates the aggregate: whose it is was checked against the request. */
  readonly creates?: boolean
  /** A caller who may act only on their own aggregates is admitted to this one only if it is theirs. */
  readonly ownOnly?: boolean
}

/**
 * Sends one command and shapes the answer: ETag on success, Retry-After on 503. An aggregate the
 * caller may not command is not found, as if it did not exist. Without an Idempotency-Key, a
 * created aggregate's id is new, so nothing needs reading first.
 */
export const sendCommand = <State, Command extends { readonly _tag: string }, Event>(
  actors: ActorSystem<State, Command, Event>,
  request: CommandRequest<Command>
) =>
  Effect.gen(function*() {
    const caller = yield* Caller
    const { headers } = request
    const key = headers["idempotency-key"]
    const ifMatch = headers["if-match"]
    const options: CommandOptions = {
      onlyFor: request.creates === true || request.ownOnly !== true || caller.grant.reach === "any" ? undefined : caller.principal.subject,
      expectedVersion: ifMatch === undefined ? undefined : Number(ifMatch.slice(1, -1)),
      idempotency: key === undefined
        ? undefined
        : { scope: callerScope(caller), key, requestHash: requestHash(request.route, request.id, request.payload) },
      metadata: metadataFrom(headers, caller),
      newStream: request.creates === true && key === undefined
    }
    const result = yield* actors.execute(request.id, request.command(yield* nowIso), options).pipe(
      Effect.mapError((error) => toHttpError(request.noun, error, ifMatch !== undefined)),
      Effect.tapError((error) =>
        error instanceof Unavailable && error.retryAfterSeconds !== undefined
          ? setHeader("retry-after", String(error.retryAfterSeconds))
          : Effect.void
      )
    )
    yield* setHeaders({ etag: etag(result.version), "x-correlation-id": options.metadata.correlationId })
    return result
  })

/**
 * Failures the request cannot meet (a command that creates its aggregate is decided before any
 * existence check; one without If-Match has no precondition): one coming back is a bug, not an answer.
 */
export const cannotFailWith = <Kinds extends ReadonlyArray<abstract new(...args: never) => unknown>>(...kinds: Kinds) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, Exclude<E, InstanceType<Kinds[number]>>, R> =>
  Effect.catchIf(effect, (error) => kinds.some((kind) => error instanceof kind), Effect.die) as Effect.Effect<
    A,
    Exclude<E, InstanceType<Kinds[number]>>,
    R
  >
