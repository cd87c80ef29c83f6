/** The live event feed: the whole log as Server-Sent Events, for staff, admins and services. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { BadRequest, Unavailable } from "../errors.js"
import { IntParam } from "../params.js"
import { Authentication, performs } from "../security.js"

/** A global position: 0 (the start) or an event's `globalPosition`, from this feed or a timeline. */
const MAX_POSITION = Number.MAX_SAFE_INTEGER

/** Names, comma-separated: event types such as OrderPlaced, stream types such as order. */
const NameList = (name: string) =>
  Schema.String.pipe(
    Schema.pattern(/^[A-Za-z][A-Za-z0-9_.-]{0,99}(,[A-Za-z][A-Za-z0-9_.-]{0,99}){0,49}$/, {
      message: () => `${name} must be one or more names separated by commas, such as OrderPlaced,OrderPaid`
    })
  )

export class EventsApi extends HttpApiGroup.make("events")
  .add(
    HttpApiEndpoint.get("stream", "/events/stream")
      .setUrlParams(Schema.Struct({
        after: Schema.optional(IntParam("after", 0, MAX_POSITION).annotations({
          description: "0 (the start) or an event's globalPosition: the feed starts after it. Default: the log's head (only new events)"
        })),
        type: Schema.optional(NameList("type")),
        streamType: Schema.optional(NameList("streamType"))
      }))
      .setHeaders(Schema.Struct({
        "last-event-id": Schema.optional(Schema.String.pipe(Schema.pattern(/^(0|[1-9][0-9]{0,15})$/, {
          message: () => "Last-Event-ID must be an id this feed sent"
        })))
      }))
      .addSuccess(HttpApiSchema.Text({ contentType: "text/event-stream" }))
      .addError(BadRequest)
      .addError(Unavailable)
      .annotateContext(performs(
        "readEventFeed",
        "Every event from a position on, in commit-safe order, as Server-Sent Events (`event:` the type, `id:` the " +
          "global position, `data:` the event as JSON); heartbeats every 15 s. Reconnecting clients send Last-Event-ID " +
          "(it wins over ?after) and miss nothing. ?type= and ?streamType= filter (comma-separated names). " +
          "An `after` that is not 0 or an event's position is 400"
      ))
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Event feed")
{}
