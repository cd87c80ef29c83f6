/**
 * What every HTTP request leaves behind: one access-log line (method, route template, status,
 * duration and, once a token was verified, the principal) and one observation of
 * `http_request_duration_seconds` by method, route template and status — its count is the request
 * rate, its 5xx share the error rate. Written by a server-level middleware inside the request's
 * span, so the line carries its trace id; the route template is what the router put on that span
 * (`http.route`), so a path full of ids is one series, and a path no route matched is `unmatched`.
 * The principal only the authentication knows: it notes it on the request as it passes.
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { Effect, Exit, type LogLevel, Metric, Option } from "effect"
import { durationHistogram } from "../observability/histograms.js"

// Keyed by the request's underlying message, which stays the same however the request is wrapped.
const principals = new WeakMap<object, string>()

/** Notes the principal the access-log line should name. */
export const notePrincipal = (principal: string) =>
  Effect.map(HttpServerRequest.HttpServerRequest, (request) => void principals.set(request.source as object, principal))

const requestDuration = durationHistogram(
  "http_request_duration_seconds",
  "HTTP requests by method, route template and status: their duration, and by their count their rate",
  { fromMillis: 0.5, count: 16 }
)

/** Methods a client may invent are one label value, so that they cannot multiply the series. */
const knownMethods = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])

// Tagged once per (method, route, status): tagging makes a new key, hashed on every update.
const tagged = new Map<string, Metric.Metric.Histogram<number>>()
const durationOf = (method: string, route: string, status: number) => {
  const label = knownMethods.has(method) ? method : "other"
  const key = `${label} ${route} ${status}`
  let metric = tagged.get(key)
  if (metric === undefined) {
    metric = requestDuration.pipe(Metric.tagged("method", label), Metric.tagged("route", route), Metric.tagged("status", String(status)))
    tagged.set(key, metric)
  }
  return metric
}

const routeOf = Effect.map(Effect.currentSpan, (span) => {
  const route = span.attributes.get("http.route")
  return typeof route === "string" ? route : undefined
}).pipe(Effect.orElseSucceed(() => undefined))

/** The middleware: measures every request, and logs it at `level` (none: no line at all). */
export const observeRequests = (level: LogLevel.LogLevel | "none"): (app: HttpApp.Default) => HttpApp.Default => (app) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const started = performance.now()
    const exit = yield* Effect.exit(app)
    const durationMs = performance.now() - started
    const status = Exit.isSuccess(exit) ? exit.value.status : 500
    const route = yield* routeOf
    yield* Metric.update(durationOf(request.method, route ?? "unmatched", status), durationMs)
    if (level !== "none") {
      const principal = principals.get(request.source as object)
      yield* Effect.logWithLevel(level, "http request").pipe(
        Effect.annotateLogs({
          method: request.method,
          route: route ?? request.url.split("?")[0]!,
          status,
          durationMs: Math.round(durationMs * 10) / 10,
          ...(principal === undefined ? {} : { principal }),
          ...Option.match(request.remoteAddress, { onNone: () => ({}), onSome: (address) => ({ address }) })
        })
      )
    }
    return yield* exit
  })
