/**
 * The push gateway: where a rendered notification goes. The default is an HTTP POST of the
 * notification as JSON to PUSH_GATEWAY_URL, with the event id as its `Idempotency-Key`, so a gateway
 * that honours the header shows a push once even when a send is repeated after a crash.
 *
 * A failure says whether another attempt may pass: timeouts, refused connections, 5xx and 429
 * (with its Retry-After) may; any other answer (a 4xx: the gateway refuses this request) will not.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Context, Data, Duration, Effect, identity, Layer, Option, type Redacted } from "effect"
import type { PushNotification } from "./render.js"

export class PushFailed extends Data.TaggedError("PushFailed")<{
  readonly retryable: boolean
  readonly reason: string
  /** The gateway asked to wait this long (429 Retry-After). */
  readonly retryAfter?: Duration.Duration | undefined
}> {}

export interface PushGatewayShape {
  readonly send: (notification: PushNotification, idempotencyKey: string) => Effect.Effect<void, PushFailed>
}

export class PushGateway extends Context.Tag("app/PushGateway")<PushGateway, PushGatewayShape>() {}

export interface HttpPushGatewayOptions {
  readonly url: string
  readonly timeout: Duration.Duration
  /** Sent as `Authorization: Bearer <token>` when the gateway wants one. */
  readonly token?: Redacted.Redacted<string> | undefined
}

/** `Retry-After` as seconds or as an HTTP date. */
export const parseRetryAfter = (header: string | undefined, now: number): Option.Option<Duration.Duration> => {
  if (header === undefined) return Option.none()
  const seconds = Number(header)
  if (header.trim() !== "" && Number.isFinite(seconds) && seconds >= 0) return Option.some(Duration.seconds(seconds))
  const date = Date.parse(header)
  return Number.isNaN(date) ? Option.none() : Option.some(Duration.millis(Math.max(0, date - now)))
}

export const makeHttp = (options: HttpPushGatewayOptions) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const send: PushGatewayShape["send"] = (notification, idempotencyKey) =>
      Effect.gen(function*() {
        const request = HttpClientRequest.post(options.url).pipe(
          HttpClientRequest.setHeaders({ "idempotency-key": idempotencyKey }),
          options.token === undefined ? identity : HttpClientRequest.bearerToken(options.token),
          HttpClientRequest.bodyUnsafeJson(notification)
        )
        const response = yield* client.execute(request).pipe(
          Effect.timeoutFail({
            duration: options.timeout,
            onTimeout: () => new PushFailed({ retryable: true, reason: `no answer within ${Duration.format(options.timeout)}` })
          }),
          Effect.catchTags({
            RequestError: (error) =>
              Effect.fail(new PushFailed({ retryable: true, reason: `cannot reach the gateway: ${error.message}` })),
            ResponseError: (error) => Effect.fail(new PushFailed({ retryable: true, reason: `bad answer: ${error.message}` }))
          })
        )
        if (response.status >= 200 && response.status < 300) return
        const body = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
        const reason = `gateway answered ${response.status}${body.length > 0 ? `: ${body.slice(0, 200)}` : ""}`
        if (response.status === 429) {
          return yield* new PushFailed({
            retryable: true,
            reason,
            // The wall clock, not Effect's: a Retry-After may be an HTTP date, read against real time.
            retryAfter: Option.getOrUndefined(parseRetryAfter(response.headers["retry-after"], Date.now()))
          })
        }
        return yield* new PushFailed({ retryable: response.status >= 500 || response.status === 408, reason })
      }).pipe(Effect.withSpan("PushGateway.send", { attributes: { idempotencyKey } }))
    return PushGateway.of({ send })
  })

export const layerHttp = (options: HttpPushGatewayOptions) => Layer.effect(PushGateway, makeHttp(options))
