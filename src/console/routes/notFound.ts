/** The last route: anything else under the console's prefix. */
import { Effect, Either } from "effect"
import { pageNotFound } from "../pages/problem.js"
import { at } from "../paths.js"
import type { ConsoleRouter, ConsoleShell } from "../shell.js"

export const notFoundRoute = (router: ConsoleRouter, shell: ConsoleShell) =>
  Effect.gen(function*() {
    const { problem, viewerOf, counted } = shell

    // Anything else under /console: a page that says so, rather than the API's JSON 404.
    yield* router.get(at("/*"), counted((session, request) =>
      problem(pageNotFound(request.url.split("?")[0]!), Either.isRight(session) ? viewerOf(session.right) : undefined)
    ))
  })
