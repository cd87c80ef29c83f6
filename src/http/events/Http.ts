/** Handler of the live event feed. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Effect } from "effect"
import { EventStore } from "../../eventstore/EventStore.js"
import { StoreUnavailable } from "../../runtime/errors.js"
import { Api } from "../Api.js"
import { BadRequest, toHttpError } from "../errors.js"
import { eventFeedResponse } from "./feed.js"

const names = (list: string | undefined) => list?.split(",") ?? []

export const EventsHttpLive = HttpApiBuilder.group(Api, "events", (handlers) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const storeFailed = (error: { readonly message: string }) =>
      toHttpError("event", new StoreUnavailable({ message: `event store failed: ${error.message}` }))
    return handlers.handle("stream", ({ headers, urlParams }) =>
      Effect.gen(function*() {
        const resumeFrom = headers["last-event-id"]
        const field = resumeFrom !== undefined ? "last-event-id" : "after"
        const after = resumeFrom !== undefined
          ? Number(resumeFrom)
          : urlParams.after ?? (yield* store.headPosition.pipe(Effect.mapError(storeFailed)))
        // Checked before the answer starts: a stream cannot turn into a 400 once it has begun.
        yield* store.readAll({ afterPosition: after, limit: 0 }).pipe(
          Effect.catchTags({
            UnknownPosition: () =>
              Effect.fail(
                new BadRequest({ error: "bad_request", field, message: `${field}: ${after} is not 0 or the position of an event` })
              ),
            SqlError: (error) => Effect.fail(storeFailed(error))
          })
        )
        return eventFeedResponse(store, after, { types: names(urlParams.type), streamTypes: names(urlParams.streamType) }, true)
      }))
  }))
