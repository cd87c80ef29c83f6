/**
 * API-wide request hygiene, so that no input, however malformed, ends in a 500: bodies over the
 * limit get 413, bodies that are not JSON get 415 (wrong media type) or 400 (broken JSON, a key given
 * twice, text PostgreSQL cannot store), a missing body 400, schema failures become
 * `{ error: "bad_request", field, message }`, a known path asked with a method it does not serve 405
 * with `Allow`, and unknown routes 404: all as problem documents (errors.ts).
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiError from "@effect/platform/HttpApiError"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpMethod from "@effect/platform/HttpMethod"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { Effect, Option } from "effect"
import { Api } from "./Api.js"
import { BadRequest, NotFound, PayloadTooLarge, problemResponse, UnsupportedMediaType } from "./errors.js"

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

/**
 * JSON.parse keeps the last of two equal keys, other parsers the first; a body that gives a field twice
 * is ambiguous, so it is refused. Runs on text JSON.parse accepted, so the structure is sound.
 */
const duplicateKeyPath = (json: string): ReadonlyArray<PropertyKey> | undefined => {
  type Frame = { readonly keys: Set<string>; key: string } | { index: number }
  const frames: Array<Frame> = []
  const position = (frame: Frame) => "keys" in frame ? frame.key : frame.index
  let atKey = false
  for (let i = 0; i < json.length; i++) {
    const char = json[i]
    if (char === "\"") {
      let end = i + 1
      while (json[end] !== "\"") end += json[end] === "\\" ? 2 : 1
      const top = frames.at(-1)
      if (atKey && top !== undefined && "keys" in top) {
        const key = JSON.parse(json.slice(i, end + 1)) as string
        if (top.keys.has(key)) return [...frames.slice(0, -1).map(position), key]
        top.keys.add(key)
        top.key = key
        atKey = false
      }
      i = end
    } else if (char === "{") {
      frames.push({ keys: new Set(), key: "" })
      atKey = true
    } else if (char === "[") {
      frames.push({ index: 0 })
      atKey = false
    } else if (char === "}" || char === "]") {
      frames.pop()
      atKey = false
    } else if (char === ",") {
      const top = frames.at(-1)
      if (top !== undefined && "index" in top) top.index++
      else atKey = true
    }
  }
  return undefined
}

/** PostgreSQL's jsonb holds neither U+0000 nor a lone surrogate: such text is bad input, not a store failure. */
const unstorable = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

const unstorableTextPath = (value: unknown, path: ReadonlyArray<PropertyKey> = []): ReadonlyArray<PropertyKey> | undefined => {
  if (typeof value === "string") return unstorable.test(value) ? path : undefined
  if (typeof value !== "object" || value === null) return undefined
  for (const [key, item] of Object.entries(value)) {
    const at = [...path, Array.isArray(value) ? Number(key) : key]
    if (unstorable.test(key)) return at
    const found = unstorableTextPath(item, at)
    if (found !== undefined) return found
  }
  return undefined
}

/** The web console's pages (src/console/) are served beside the API and take form posts. */
export const consolePrefix = "/console"
const isConsolePath = (url: string) => url === consolePrefix || url.startsWith(`${consolePrefix}/`) || url.startsWith(`${consolePrefix}?`)

const badBody = (field: string, message: string) => new BadRequest({ error: "bad_request", message, field })

/**
 * Reads and checks the body once (the request caches it for the endpoint's own decoding). Tells
 * whether the body is missing, so that an endpoint that needs one can say so.
 */
const checkBody = (maxBytes: number) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    // The console's pages post HTML forms, checked by the console itself.
    if (!HttpMethod.hasBody(request.method) || isConsolePath(request.url)) return { missing: false }
    // Made only when needed: an error captures a stack trace, and most requests are not too large.
    const tooLarge = () =>
      new PayloadTooLarge({
        error: "payload_too_large",
        message: `the request body is larger than ${maxBytes} bytes`,
        maxBytes
      })
    const declared = Number(request.headers["content-length"] ?? "0")
    if (declared > maxBytes) return yield* Effect.fail(tooLarge())
    const text = yield* request.text.pipe(
      HttpIncomingMessage.withMaxBodySize(Option.some(maxBytes)),
      Effect.mapError(tooLarge)
    )
    if (text.length === 0) return { missing: true }
    const contentType = (request.headers["content-type"] ?? "").toLowerCase()
    // The media type alone, without parameters: "application/json; charset=utf-8" is JSON, "application/jsonx" is not.
    if (contentType.split(";")[0]!.trim() !== "application/json") {
      return yield* Effect.fail(
        new UnsupportedMediaType({
          error: "unsupported_media_type",
          message: `send the body as application/json, not ${contentType === "" ? "without a Content-Type" : contentType}`
        })
      )
    }
    const body = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (error) => badBody("body", `the body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`)
    })
    const duplicate = duplicateKeyPath(text)
    if (duplicate !== undefined) {
      const field = fieldName(duplicate)
      return yield* Effect.fail(badBody(field, `${field}: is given more than once; send each field once`))
    }
    const unstorableAt = unstorableTextPath(body)
    if (unstorableAt !== undefined) {
      const field = fieldName(unstorableAt) || "body"
      return yield* Effect.fail(badBody(field, `${field}: must not contain U+0000 or an unpaired surrogate (\\ud800-\\udfff)`))
    }
    return { missing: false }
  })

/** The methods each of the API's paths serves, by a pattern of the path (`:name` is one segment). */
const methodsByPath = () => {
  const paths = new Map<string, { readonly pattern: RegExp; readonly methods: Set<string> }>()
  HttpApi.reflect(Api, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => {
      const entry = paths.get(endpoint.path) ??
        { pattern: new RegExp(`^${endpoint.path.replace(/:\w+/g, "[^/]+")}$`), methods: new Set<string>() }
      entry.methods.add(endpoint.method)
      // The router answers HEAD wherever it answers GET.
      if (endpoint.method === "GET") entry.methods.add("HEAD")
      paths.set(endpoint.path, entry)
    }
  })
  return [...paths.values()]
}

/**
 * Failures raised by the platform before a handler runs, answered in this API's terms: a body or
 * parameter that does not decode is a 400 naming the field, a path the API serves with other methods
 * a 405 that lists them, any other route a 404.
 */
const answerRouting = (error: unknown, bodyMissing: boolean, paths: ReturnType<typeof methodsByPath>) => {
  if (error instanceof HttpApiError.HttpApiDecodeError) {
    // The platform decodes a missing body as `null`; say what is really wrong.
    const missing = bodyMissing && error.issues.some((issue) => issue.path.length === 0)
    return Option.some(problemResponse(missing ? badBody("body", "a JSON body is required") : fromDecodeError(error)))
  }
  if (error instanceof HttpServerError.RouteNotFound) {
    const { method, url } = error.request
    const path = url.split("?")[0]!
    const allowed = paths.filter((entry) => entry.pattern.test(path)).flatMap((entry) => [...entry.methods])
    if (allowed.length > 0) {
      const allow = [...new Set(allowed)].sort().join(", ")
      return Option.some(problemResponse({
        status: 405,
        title: "Method Not Allowed",
        error: "method_not_allowed",
        message: `${path} does not serve ${method}; it serves ${allow}`
      }, { allow }))
    }
    return Option.some(problemResponse(new NotFound({ error: "not_found", message: `no route for ${method} ${url}` })))
  }
  return Option.none()
}

export const requestGuard = (maxBytes: number) =>
  HttpApiBuilder.middleware(
    Effect.sync(() => {
      const paths = methodsByPath()
      return (app: HttpApp.Default) =>
        checkBody(maxBytes).pipe(
          Effect.flatMap((body) =>
            Effect.catchAll(app as HttpApp.Default<unknown>, (error) =>
              Option.match(answerRouting(error, body.missing, paths), {
                onNone: () => Effect.fail(error),
                onSome: Effect.succeed
              }))
          ),
          Effect.catchIf(
            (error): error is BadRequest | PayloadTooLarge | UnsupportedMediaType =>
              error instanceof BadRequest || error instanceof PayloadTooLarge || error instanceof UnsupportedMediaType,
            (error) => Effect.succeed(problemResponse(error))
          )
        ) as HttpApp.Default
    })
  )
