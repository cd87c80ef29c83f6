/** The live events: the page, and the feed it follows. */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { Effect, Option } from "effect"
import { eventFeedResponse } from "../../http/events/feed.js"
import { livePage } from "../pages/live.js"
import { paths } from "../paths.js"
import type { ConsoleRouter, ConsoleShell } from "../shell.js"

export const liveRoutes = (router: ConsoleRouter, shell: ConsoleShell) =>
  Effect.gen(function*() {
    const { store, signedIn, may, respond, firstParam } = shell

    const liveFilter = (search: Parameters<typeof firstParam>[0]) => ({
      type: (firstParam(search, "type") ?? "").trim(),
      streamType: (firstParam(search, "streamType") ?? "").trim()
    })
    const nameList = (list: string) => list.split(",").map((name) => name.trim()).filter((name) => name !== "")

    yield* router.get(paths.live, signedIn((viewer) =>
      Effect.gen(function*() {
        const denied = may(viewer, "readEventFeed", "follow the live events")
        if (Option.isSome(denied)) return yield* denied.value
        return yield* respond(livePage(viewer, liveFilter(yield* HttpServerRequest.ParsedSearchParams)))
      })
    ))

    /** The feed for the live view: from the log's head, or where a reconnecting EventSource left off. */
    yield* router.get(paths.liveStream, signedIn((viewer, request) =>
      Effect.gen(function*() {
        const denied = may(viewer, "readEventFeed", "follow the live events")
        if (Option.isSome(denied)) return yield* denied.value
        const filter = liveFilter(yield* HttpServerRequest.ParsedSearchParams)
        const resumeFrom = Number(request.headers["last-event-id"] ?? "NaN")
        // A Last-Event-ID this feed did not send (no event's position) starts at the head, not in a loop of failures.
        const resumable = Number.isSafeInteger(resumeFrom) && resumeFrom >= 0 &&
          (yield* Effect.isSuccess(store.readAll({ afterPosition: resumeFrom, limit: 0 })))
        const after = resumable ? resumeFrom : yield* store.headPosition
        // Unnamed frames, so that the page's onmessage hears every one.
        return eventFeedResponse(store, after, { types: nameList(filter.type), streamTypes: nameList(filter.streamType) }, false)
      })
    ))
  })
