/**
 * Error bodies of the HTTP API and the one mapping from the runtime's typed failures to them. Every
 * error is `application/problem+json` (RFC 9457): `title` and `status` as the RFC has them (its
 * `type` is left out, so it is `about:blank`: the title is the status's phrase), and this API's own
 * members beside them: `error` (a stable code), `message` (what went wrong and what to do: the RFC's
 * `detail`) and the details of each kind. Statuses live on the schemas (and so in the OpenAPI
 * document).
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Schema } from "effect"
import type { CommandError } from "../runtime/AggregateActor.js"
import type { DeliveryError } from "../runtime/ActorSystem.js"
import type { StoreUnavailable } from "../runtime/errors.js"

export const problemContentType = "application/problem+json"

/** RFC 9457's members, filled in by the constructor: callers give only this API's own. */
const problemFields = <Status extends number>(status: Status, title: string) => ({
  title: Schema.propertySignature(Schema.Literal(title)).pipe(Schema.withConstructorDefault(() => title)),
  status: Schema.propertySignature(Schema.Literal(status)).pipe(Schema.withConstructorDefault(() => status))
})

/** The annotations of an error schema: its status, its description, its media type. */
const problem = <A>(status: number, description?: string): Schema.Annotations.Schema<A> => ({
  ...HttpApiSchema.annotations<A>({ status, ...(description === undefined ? {} : { description }) }),
  [HttpApiSchema.AnnotationEncoding]: { kind: "Json", contentType: problemContentType }
})

/** A problem answered without the endpoints' encoding (by the request guard), in the same shape. */
export const problemResponse = (
  problem: { readonly status: number; readonly title: string; readonly error: string; readonly message: string },
  headers: Record<string, string> = {}
) => HttpServerResponse.unsafeJson({ ...problem }, { status: problem.status, contentType: problemContentType, headers })

const FieldIssue = Schema.Struct({ field: Schema.String, message: Schema.String })

export class BadRequest extends Schema.Class<BadRequest>("BadRequest")({
  ...problemFields(400, "Bad Request"),
  error: Schema.Literal("bad_request"),
  message: Schema.String,
  field: Schema.optional(Schema.String),
  issues: Schema.optional(Schema.Array(FieldIssue))
}, problem(400, "The request is malformed; `field` names the first offending field")) {}

export class Unauthorized extends Schema.Class<Unauthorized>("Unauthorized")({
  ...problemFields(401, "Unauthorized"),
  error: Schema.Literal("unauthorized"),
  message: Schema.String
}, problem(401, "No valid bearer token: `message` (and the WWW-Authenticate header) says what is wrong with it"
)) {}

export class Forbidden extends Schema.Class<Forbidden>("Forbidden")({
  ...problemFields(403, "Forbidden"),
  error: Schema.Literal("forbidden"),
  message: Schema.String
}, problem(403, "The token's roles do not allow this; `message` says who may")) {}

export class TooManyRequests extends Schema.Class<TooManyRequests>("TooManyRequests")({
  ...problemFields(429, "Too Many Requests"),
  error: Schema.Literal("rate_limited"),
  message: Schema.String,
  retryAfterSeconds: Schema.Int
}, problem(429, "Too many requests from this caller (or, without a valid token, this address); retry after Retry-After seconds"
)) {}

export class NotFound extends Schema.Class<NotFound>("NotFound")({
  ...problemFields(404, "Not Found"),
  error: Schema.Literal("not_found"),
  message: Schema.String
}, problem(404)) {}

const versionFields = {
  error: Schema.Literal("version_conflict"),
  message: Schema.String,
  expectedVersion: Schema.Int,
  actualVersion: Schema.Int
}

/** If-Match named a version the aggregate is no longer (or not yet) at: RFC 9110's failed precondition. */
export class PreconditionFailed extends Schema.Class<PreconditionFailed>("PreconditionFailed")({
  ...problemFields(412, "Precondition Failed"),
  ...versionFields
}, problem(412, "If-Match named another version than the aggregate's: read it again, retry with the new ETag")) {}

/** Without If-Match: other writers moved the aggregate on every time the command was decided again. */
export class Conflict extends Schema.Class<Conflict>("Conflict")({
  ...problemFields(409, "Conflict"),
  ...versionFields
}, problem(409, "Other writers changed the aggregate each time the command was decided again; retry")) {}

/** For a GET with If-None-Match naming the current ETag: nothing changed, no body. */
export class NotModified extends HttpApiSchema.EmptyError<NotModified>()({ tag: "NotModified", status: 304 }) {}

export class PayloadTooLarge extends Schema.Class<PayloadTooLarge>("PayloadTooLarge")({
  ...problemFields(413, "Content Too Large"),
  error: Schema.Literal("payload_too_large"),
  message: Schema.String,
  maxBytes: Schema.Int
}, problem(413)) {}

export class UnsupportedMediaType extends Schema.Class<UnsupportedMediaType>("UnsupportedMediaType")({
  ...problemFields(415, "Unsupported Media Type"),
  error: Schema.Literal("unsupported_media_type"),
  message: Schema.String
}, problem(415)) {}

export class Unprocessable extends Schema.Class<Unprocessable>("Unprocessable")({
  ...problemFields(422, "Unprocessable Content"),
  error: Schema.Literal("rule_violated", "idempotency_key_reused"),
  message: Schema.String,
  rule: Schema.optional(Schema.String)
}, problem(422, "A business rule refused the command; `rule` names it")) {}

export class Unavailable extends Schema.Class<Unavailable>("Unavailable")({
  ...problemFields(503, "Service Unavailable"),
  error: Schema.Literal(
    "overloaded",
    "shutting_down",
    "store_unavailable",
    "outcome_unknown",
    "owner_unavailable",
    "not_ready",
    "identity_provider_unavailable"
  ),
  message: Schema.String,
  retryAfterSeconds: Schema.optional(Schema.Int)
}, problem(503, "Try again after Retry-After seconds. `outcome_unknown`: the command may or may not have been applied; " +
    "retry it only with the same Idempotency-Key"
)) {}

export type CommandHttpError = NotFound | PreconditionFailed | Conflict | Unprocessable | Unavailable

type RetryableError = DeliveryError | StoreUnavailable

/**
 * The one place where runtime failures become HTTP errors. `ifMatch`: the command carried If-Match,
 * so a version conflict is its failed precondition.
 */
export function toHttpError(noun: string, error: RetryableError): Unavailable
export function toHttpError(noun: string, error: CommandError | RetryableError, ifMatch?: boolean): CommandHttpError
export function toHttpError(noun: string, error: CommandError | RetryableError, ifMatch = false): CommandHttpError {
  switch (error._tag) {
    case "AggregateNotFound":
      return new NotFound({ error: "not_found", message: `${noun} ${error.id} does not exist` })
    case "RuleViolated":
      return new Unprocessable({ error: "rule_violated", rule: error.rule, message: error.message })
    case "VersionConflict":
      return ifMatch
        ? new PreconditionFailed({
          error: "version_conflict",
          message: `${noun} ${error.streamId} is at version ${error.actualVersion}, not ${error.expectedVersion}; ` +
            "read it again and retry with the new ETag",
          expectedVersion: error.expectedVersion,
          actualVersion: error.actualVersion
        })
        : new Conflict({
          error: "version_conflict",
          message: `${noun} ${error.streamId} kept changing while the command was decided (now at version ` +
            `${error.actualVersion}); retry`,
          expectedVersion: error.expectedVersion,
          actualVersion: error.actualVersion
        })
    case "IdempotencyKeyReused":
      return new Unprocessable({
        error: "idempotency_key_reused",
        message: `Idempotency-Key ${error.key} was already used with a different request; use a new key`
      })
    case "Overloaded":
      return new Unavailable({
        error: "overloaded",
        message: `${noun} ${error.id} has too many commands waiting; retry after ${error.retryAfterSeconds} s`,
        retryAfterSeconds: error.retryAfterSeconds
      })
    case "ShuttingDown":
      return new Unavailable({ error: "shutting_down", message: "the server is shutting down; retry", retryAfterSeconds: 1 })
    case "StoreUnavailable":
      return new Unavailable({ error: "store_unavailable", message: error.message, retryAfterSeconds: 1 })
    case "OwnerUnavailable":
      return new Unavailable({ error: "owner_unavailable", message: error.message, retryAfterSeconds: 1 })
    case "AppendOutcomeUnknown":
      // No Retry-After: a blind retry of a command that may have applied can apply it twice.
      return new Unavailable({
        error: "outcome_unknown",
        message: `the command on ${noun} ${error.streamId} may or may not have been applied (${error.message}); ` +
          "retry it with the same Idempotency-Key, which returns the first result if it was applied"
      })
  }
}
