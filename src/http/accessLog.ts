/**
 * One access-log line per HTTP request: method, route template, status, duration and, once a token
 * was verified, the principal. Written by a server-level middleware inside the request's span, so
 * the line carries its trace id. What only the router and the authentication know (the route
 * template, the principal) they note on the request as it passes.
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { Clock, Effect, Exit, identity, type LogLevel, Option } from "effect"

interface Noted {
  route?: string
  principal?: string
}

// Keyed by the request's underlying message, which stays the same however the request is wrapped.
const notes = new WeakMap<object, Noted>()

/** Notes what the access-log line should say of this request. */
export const note = (fields: Noted) =>
  Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
    const source = request.source as object
    notes.set(source, { ...notes.get(source), ...fields })
  })

/** The middleware, logging at `level` (none: no line at all). */
export const accessLog = (level: LogLevel.LogLevel | "none"): (app: HttpApp.Default) => HttpApp.Default =>
  level === "none" ? identity : (app) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const started = yield* Clock.currentTimeMillis
      const exit = yield* Effect.exit(app)
      const noted = notes.get(request.source as object) ?? {}
      yield* Effect.logWithLevel(level, "http request").pipe(
        Effect.annotateLogs({
          method: request.method,
          route: noted.route ?? request.url.split("?")[0]!,
          status: Exit.isSuccess(exit) ? exit.value.status : 500,
          durationMs: (yield* Clock.currentTimeMillis) - started,
          ...(noted.principal === undefined ? {} : { principal: noted.principal }),
          ...Option.match(request.remoteAddress, { onNone: () => ({}), onSome: (address) => ({ address }) })
        })
      )
      return yield* exit
    })
