/**
 * The payment provider: authorizes, captures, voids and refunds the payments of orders. The default
 * speaks the provider's HTTP API at PAYMENT_PROVIDER_URL: JSON POSTs, each with the
 * `Idempotency-Key` `<paymentId>:<operation>`, so a call repeated after a lost answer is answered with
 * the first answer and never takes money twice.
 *
 * A failure says what the caller may do next. `ProviderTimeout`: no answer in time, so the outcome
 * is unknown; repeat with the same key, or void. `ProviderUnavailable`: the provider could not be
 * reached, failed (5xx), asked to slow down (429) or answered something unreadable; repeating may
 * pass. `ProviderRefused`: the provider said no to this request (a 4xx); repeating will not pass.
 * An authorization is never refused: a provider that says no to one has declined it.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { Context, Data, Duration, Effect, Either, Layer, Schema } from "effect"

export type PaymentOperation = "authorize" | "capture" | "void" | "refund"

export class ProviderUnavailable extends Data.TaggedError("ProviderUnavailable")<{
  readonly operation: PaymentOperation
  readonly reason: string
}> {}

/** No answer in time: the provider may or may not have done it. */
export class ProviderTimeout extends Data.TaggedError("ProviderTimeout")<{
  readonly operation: PaymentOperation
  readonly after: Duration.Duration
}> {}

export class ProviderRefused extends Data.TaggedError("ProviderRefused")<{
  readonly operation: PaymentOperation
  readonly reason: string
}> {}

export interface AuthorizeRequest {
  readonly paymentId: string
  readonly amountCents: number
  readonly currency: string
  readonly method: string
}

export type Authorization = Data.TaggedEnum<{
  Approved: { readonly authorizationId: string }
  Declined: { readonly reason: string }
}>

export const Authorization = Data.taggedEnum<Authorization>()

export interface CaptureRequest {
  readonly paymentId: string
  readonly authorizationId: string
  readonly amountCents: number
}

export interface RefundRequest {
  readonly paymentId: string
  readonly amountCents: number
}

export interface PaymentProviderShape {
  readonly authorize: (request: AuthorizeRequest) => Effect.Effect<Authorization, ProviderUnavailable | ProviderTimeout>
  readonly capture: (
    request: CaptureRequest
  ) => Effect.Effect<{ readonly captureId: string }, ProviderUnavailable | ProviderTimeout | ProviderRefused>
  readonly void: (paymentId: string) => Effect.Effect<void, ProviderUnavailable | ProviderTimeout | ProviderRefused>
  readonly refund: (
    request: RefundRequest
  ) => Effect.Effect<{ readonly refundId: string }, ProviderUnavailable | ProviderTimeout | ProviderRefused>
}

export class PaymentProvider extends Context.Tag("app/PaymentProvider")<PaymentProvider, PaymentProviderShape>() {}

export interface HttpPaymentProviderOptions {
  /** The provider's base URL; the operations are paths below it. */
  readonly url: string
  /** How long each call may wait for its answer, the body read included. */
  readonly timeout: Duration.Duration
}

/** The key of an operation on a payment: one payment, one authorization, one capture, one void, one refund. */
export const idempotencyKey = (paymentId: string, operation: PaymentOperation): string => `${paymentId}:${operation}`

const AuthorizationAnswer = Schema.Union(
  Schema.Struct({ status: Schema.Literal("approved"), authorizationId: Schema.String }),
  Schema.Struct({ status: Schema.Literal("declined"), reason: Schema.String })
)
const CaptureAnswer = Schema.Struct({ status: Schema.Literal("captured"), captureId: Schema.String })
const VoidAnswer = Schema.Struct({ status: Schema.Literal("voided") })
const RefundAnswer = Schema.Struct({ status: Schema.Literal("refunded"), refundId: Schema.String })
const decodeRefusal = Schema.decodeUnknownEither(Schema.parseJson(Schema.Struct({ reason: Schema.String })))

const paths: Record<PaymentOperation, string> = {
  authorize: "/authorizations",
  capture: "/captures",
  void: "/voids",
  refund: "/refunds"
}

export const makeHttp = (options: HttpPaymentProviderOptions) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const baseUrl = options.url.replace(/\/+$/, "")

    const post = <A, I>(operation: PaymentOperation, paymentId: string, body: unknown, answer: Schema.Schema<A, I>) =>
      Effect.gen(function*() {
        const request = HttpClientRequest.post(`${baseUrl}${paths[operation]}`).pipe(
          HttpClientRequest.setHeaders({ "idempotency-key": idempotencyKey(paymentId, operation) }),
          HttpClientRequest.acceptJson,
          HttpClientRequest.bodyUnsafeJson(body)
        )
        const response = yield* client.execute(request)
        if (response.status >= 200 && response.status < 300) {
          return yield* HttpClientResponse.schemaBodyJson(answer)(response).pipe(
            Effect.catchTag("ParseError", (error) =>
              Effect.fail(new ProviderUnavailable({ operation, reason: `malformed answer: ${error.message}` })))
          )
        }
        const text = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
        const said = `provider answered ${response.status}${text.length > 0 ? `: ${text.slice(0, 200)}` : ""}`
        // 408: the provider gave up waiting for the request, so it did nothing with it.
        if (response.status >= 500 || response.status === 429 || response.status === 408 || response.status < 400) {
          return yield* new ProviderUnavailable({ operation, reason: said })
        }
        const refusal = decodeRefusal(text)
        return yield* new ProviderRefused({ operation, reason: Either.isRight(refusal) ? refusal.right.reason : said })
      }).pipe(
        // Over the body read as well: an answer that stops half-way is no answer.
        Effect.timeoutFail({ duration: options.timeout, onTimeout: () => new ProviderTimeout({ operation, after: options.timeout }) }),
        Effect.catchTags({
          RequestError: (error) =>
            Effect.fail(new ProviderUnavailable({ operation, reason: `cannot reach the provider: ${error.message}` })),
          ResponseError: (error) => Effect.fail(new ProviderUnavailable({ operation, reason: `bad answer: ${error.message}` }))
        })
      )

    const authorize: PaymentProviderShape["authorize"] = (request) =>
      post("authorize", request.paymentId, {
        paymentId: request.paymentId,
        amountCents: request.amountCents,
        currency: request.currency,
        method: request.method
      }, AuthorizationAnswer).pipe(
        Effect.map((answer) =>
          answer.status === "approved"
            ? Authorization.Approved({ authorizationId: answer.authorizationId })
            : Authorization.Declined({ reason: answer.reason })
        ),
        // A provider that will not take the authorization has not authorized anything: no money is held.
        Effect.catchTag("ProviderRefused", (refused) => Effect.succeed(Authorization.Declined({ reason: refused.reason }))),
        Effect.withSpan("PaymentProvider.authorize", {
          attributes: { paymentId: request.paymentId, amountCents: request.amountCents, currency: request.currency }
        })
      )

    const capture: PaymentProviderShape["capture"] = (request) =>
      post("capture", request.paymentId, {
        paymentId: request.paymentId,
        authorizationId: request.authorizationId,
        amountCents: request.amountCents
      }, CaptureAnswer).pipe(
        Effect.map((answer) => ({ captureId: answer.captureId })),
        Effect.withSpan("PaymentProvider.capture", { attributes: { paymentId: request.paymentId, amountCents: request.amountCents } })
      )

    const void_: PaymentProviderShape["void"] = (paymentId) =>
      post("void", paymentId, { paymentId }, VoidAnswer).pipe(
        Effect.asVoid,
        Effect.withSpan("PaymentProvider.void", { attributes: { paymentId } })
      )

    const refund: PaymentProviderShape["refund"] = (request) =>
      post("refund", request.paymentId, { paymentId: request.paymentId, amountCents: request.amountCents }, RefundAnswer).pipe(
        Effect.map((answer) => ({ refundId: answer.refundId })),
        Effect.withSpan("PaymentProvider.refund", { attributes: { paymentId: request.paymentId, amountCents: request.amountCents } })
      )

    return PaymentProvider.of({ authorize, capture, void: void_, refund })
  })

export const layerHttp = (options: HttpPaymentProviderOptions) => Layer.effect(PaymentProvider, makeHttp(options))

/** No provider configured: every call fails as unavailable, with the reason, so that the steps that need one wait and say why. */
export const layerUnconfigured = (reason: string) => {
  const unavailable = (operation: PaymentOperation) => Effect.fail(new ProviderUnavailable({ operation, reason }))
  return Layer.succeed(PaymentProvider, {
    authorize: () => unavailable("authorize"),
    capture: () => unavailable("capture"),
    void: () => unavailable("void"),
    refund: () => unavailable("refund")
  })
}
