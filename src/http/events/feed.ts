/**
 * The live feed of the whole log (eventstore/liveEvents.ts) as Server-Sent Events, with heartbeats
 * while nothing is sent. Each frame's `id` is the event's global position, so a reconnecting client
 * resumes with `Last-Event-ID`; a heartbeat also carries the position scanned so far (an `id` with no
 * data moves the client's last event id without dispatching an event), so a filtered feed does not
 * scan again what it skipped. The next batch is read only when the last one has been written to the
 * client, so a slow client slows its own feed and holds no more than one batch.
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect, Stream } from "effect"
import type { EventStoreShape, RecordedEvent } from "../../eventstore/EventStore.js"
import { defaultFeedOptions, type FeedFilter, type FeedOptions, liveEvents } from "../../eventstore/liveEvents.js"
import { toEnvelope } from "../../messaging/contracts.js"

/**
 * One event as an SSE frame: its data the envelope every consumer of the log reads (Kafka's too);
 * JSON has no raw newlines, so `data` is one line.
 */
export const eventFrame = (event: RecordedEvent, named: boolean) =>
  `id: ${event.globalPosition}\n${named ? `event: ${event.type}\n` : ""}data: ${JSON.stringify(toEnvelope(event))}\n\n`

/** A comment that keeps proxies from closing the connection, and the position scanned so far. */
export const heartbeatFrame = (position: number) => `: heartbeat\nid: ${position}\n\n`

/** Tells the client how long to wait before reconnecting. */
export const retryFrame = (millis: number) => `retry: ${millis}\n\n`

/** The endless feed after `after` as SSE frames: events, and heartbeats while quiet. */
/**
 * The endless feed after `after` as an SSE answer: a first frame at once (so the client knows it is
 * following before the first event), then events and heartbeats. `named`: each frame says its event
 * type (`event:`), for clients that listen by type; a browser page's `onmessage` hears only unnamed
 * ones. A failed read ends the answer (logged); the client reconnects with Last-Event-ID.
 */
export const eventFeedResponse = (
  store: EventStoreShape,
  after: number,
  filter: FeedFilter,
  named: boolean,
  options: FeedOptions = defaultFeedOptions
) => {
  const frames = liveEvents(store, after, filter, { ...options, follow: true }).pipe(
    Stream.map((item) => item._tag === "Event" ? eventFrame(item.event, named) : heartbeatFrame(item.position)),
    Stream.catchAllCause((cause) =>
      Stream.drain(Stream.fromEffect(Effect.logWarning("the event feed stopped: a read failed; the client reconnects", cause)))
    )
  )
  return HttpServerResponse.stream(Stream.encodeText(Stream.concat(Stream.make(retryFrame(2000)), frames)), {
    contentType: "text/event-stream",
    // No buffering on the way (nginx and the like), no caching.
    headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
  })
}
