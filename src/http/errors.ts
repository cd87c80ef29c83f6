/**
 * Error bodies of the HTTP API, `{ error, message, ...details }`, and the one mapping from the
 * runtime's typed failures to them. Statuses live on the schemas (and so in the OpenAPI document).
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import { Schema } from "effect"
import type { CommandError } from "../runtime/AggregateActor.js"
import type { DeliveryError } from "../runtime/ActorSystem.js"
import type { StoreUnavailable } from "../runtime/errors.js"

const FieldIssue = Schema.Struct({ field: Schema.String, message: Schema.String })

export class BadRequest extends Schema.Class<BadRequest>("BadRequest")({
  error: Schema.Literal("bad_request"),
  message: Schema.String,
  field: Schema.optional(Schema.String),
  issues: Schema.optional(Schema.Array(FieldIssue))
}, HttpApiSchema.annotations({ status: 400, description: "The request is malformed; `field` names the first offending field" })) {}

export class Unauthorized extends Schema.Class<Unauthorized>("Unauthorized")({
  error: Schema.Literal("unauthorized"),
  message: Schema.String
}, HttpApiSchema.annotations({
  status: 401,
  description: "No valid bearer token: `message` (and the WWW-Authenticate header) says what is wrong with it"
})) {}

export class Forbidden extends Schema.Class<Forbidden>("Forbidden")({
  error: Schema.Literal("forbidden"),
  message: Schema.String
}, HttpApiSchema.annotations({ status: 403, description: "The token's roles do not allow this; `message` says who may" })) {}

export class TooManyRequests extends Schema.Class<TooManyRequests>("TooManyRequests")({
  error: Schema.Literal("rate_limited"),
  message: Schema.String,
  retryAfterSeconds: Schema.Int
}, HttpApiSchema.annotations({
  status: 429,
  description: "Too many requests from this caller (or, without a valid token, this address); retry after Retry-After seconds"
})) {}

export class NotFound extends Schema.Class<NotFound>("NotFound")({
  error: Schema.Literal("not_found"),
  message: Schema.String
}, HttpApiSchema.annotations({ status: 404 })) {}

export class Conflict extends Schema.Class<Conflict>("Conflict")({
  error: Schema.Literal("version_conflict"),
  message: Schema.String,
  expectedVersion: Schema.Int,
  actualVersion: Schema.Int
}, HttpApiSchema.annotations({ status: 409, description: "The order is not at the version the request expected" })) {}

export class PayloadTooLarge extends Schema.Class<PayloadTooLarge>("PayloadTooLarge")({
  error: Schema.Literal("payload_too_large"),
  message: Schema.String,
  maxBytes: Schema.Int
}, HttpApiSchema.annotations({ status: 413 })) {}

export class UnsupportedMediaType extends Schema.Class<UnsupportedMediaType>("UnsupportedMediaType")({
  error: Schema.Literal("unsupported_media_type"),
  message: Schema.String
}, HttpApiSchema.annotations({ status: 415 })) {}

export class Unprocessable extends Schema.Class<Unprocessable>("Unprocessable")({
  error: Schema.Literal("rule_violated", "idempotency_key_reused"),
  message: Schema.String,
  rule: Schema.optional(Schema.String)
}, HttpApiSchema.annotations({ status: 422, description: "A business rule refused the command; `rule` names it" })) {}

export class Unavailable extends Schema.Class<Unavailable>("Unavailable")({
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
}, HttpApiSchema.annotations({
  status: 503,
  description: "Try again after Retry-After seconds. `outcome_unknown`: the command may or may not have been applied; " +
    "retry it only with the same Idempotency-Key"
})) {}

export type CommandHttpError = NotFound | Conflict | Unprocessable | Unavailable

type RetryableError = DeliveryError | StoreUnavailable

/** The one place where runtime failures become HTTP errors. */
export function toHttpError(noun: string, error: RetryableError): Unavailable
export function toHttpError(noun: string, error: CommandError | RetryableError): CommandHttpError
export function toHttpError(noun: string, error: CommandError | RetryableError): CommandHttpError {
  switch (error._tag) {
    case "AggregateNotFound":
      return new NotFound({ error: "not_found", message: `${noun} ${error.id} does not exist` })
    case "RuleViolated":
      return new Unprocessable({ error: "rule_violated", rule: error.rule, message: error.message })
    case "VersionConflict":
      return new Conflict({
        error: "version_conflict",
        message: `${noun} ${error.streamId} is at version ${error.actualVersion}, not ${error.expectedVersion}; ` +
          "read it again and retry with the new ETag",
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
