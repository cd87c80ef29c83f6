/**
 * API-wide request hygiene, so that no input, however malformed, ends in a 500: bodies over the
 * limit get 413, bodies that are not JSON get 415 (wrong media type) or 400 (broken JSON), schema
 * failures become `{ error: "bad_request", field, message }`, and unknown routes a JSON 404.
 */
import {
  HttpApiBuilder,
  HttpApiError,
  HttpIncomingMessage,
  HttpMethod,
  HttpServerError,
  HttpServerRequest
} from "@effect/platform"
import { Effect, Option } from "effect"
import { Api } from "./Api.js"
import { BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType } from "./errors.js"

const fieldName = (path: ReadonlyArray<PropertyKey>) =>
  path.reduce<string>(
    (name, key) => typeof key === "number" ? `${name}[${key}]` : name === "" ? String(key) : `${name}.${String(key)}`,
    ""
  )

export const fromDecodeError = (error: HttpApiError.HttpApiDecodeError): BadRequest => {
  const issues = error.issues.map((issue) => ({
    field: fieldName(issue.path) || "body",
    message: issue.message
  }))
  const first = issues[0]
  return new BadRequest({
    error: "bad_request",
    message: first === undefined ? error.message : `${first.field}: ${first.message}`,
    ...(first === undefined ? {} : { field: first.field }),
    issues
  })
}

/** Reads and checks the body once (the request caches it for the endpoint's own decoding). */
const checkBody = (maxBytes: number) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (!HttpMethod.hasBody(request.method)) return
    const tooLarge = new PayloadTooLarge({
      error: "payload_too_large",
      message: `the request body is larger than ${maxBytes} bytes`,
      maxBytes
    })
    const declared = Number(request.headers["content-length"] ?? "0")
    if (declared > maxBytes) return yield* Effect.fail(tooLarge)
    const text = yield* request.text.pipe(
      HttpIncomingMessage.withMaxBodySize(Option.some(maxBytes)),
      Effect.mapError(() => tooLarge)
    )
    if (text.length === 0) return
    const contentType = (request.headers["content-type"] ?? "").toLowerCase()
    if (!contentType.startsWith("application/json")) {
      return yield* Effect.fail(
        new UnsupportedMediaType({
          error: "unsupported_media_type",
          message: `send the body as application/json, not ${contentType === "" ? "without a Content-Type" : contentType}`
        })
      )
    }
    yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (error) =>
        new BadRequest({
          error: "bad_request",
          message: `the body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
          field: "body"
        })
    })
  })

/** Failures raised by the platform before a handler runs, rewritten into this API's error bodies. */
const translate = <E>(error: E): E | BadRequest | NotFound => {
  const raised: unknown = error
  if (raised instanceof HttpApiError.HttpApiDecodeError) return fromDecodeError(raised)
  if (raised instanceof HttpServerError.RouteNotFound) {
    return new NotFound({ error: "not_found", message: `no route for ${raised.request.method} ${raised.request.url}` })
  }
  return error
}

export const requestGuard = (maxBytes: number) =>
  HttpApiBuilder.middleware(Api, (app) => checkBody(maxBytes).pipe(Effect.zipRight(app), Effect.mapError(translate)))
