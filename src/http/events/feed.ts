/**
 * The live feed of the whole log (eventstore/liveEvents.ts) as Server-Sent Events, with heartbeats
 * while nothing is sent. Each frame's `id` is the event's global position, so a reconnecting client
 * resumes with `Last-Event-ID`; a heartbeat also carries the position scanned so far (an `id` with no
 * data moves the client's last event id without dispatching an event), so a filtered feed does not
 * scan again what it skipped. The next batch is read only when the last one has been written to the
 * client, so a slow client slows its own feed and holds no more than one batch.
 */
import { Stream } from "effect"
import type { EventStoreShape, RecordedEvent } from "../../eventstore/EventStore.js"
import { defaultFeedOptions, type FeedFilter, type FeedOptions, liveEvents } from "../../eventstore/liveEvents.js"

/** What a frame's data holds: the event as the timeline shows it, with where it belongs. */
export const feedEntry = (event: RecordedEvent) => ({
  globalPosition: event.globalPosition,
  streamId: event.streamId,
  streamType: event.streamType,
  version: event.version,
  type: event.type,
  schemaVersion: event.schemaVersion,
  data: event.data,
  metadata: event.metadata,
  recordedAt: event.recordedAt.toISOString()
})

/** One event as an SSE frame (JSON has no raw newlines, so `data` is one line). */
export const eventFrame = (event: RecordedEvent) =>
  `id: ${event.globalPosition}\nevent: ${event.type}\ndata: ${JSON.stringify(feedEntry(event))}\n\n`

/** A comment that keeps proxies from closing the connection, and the position scanned so far. */
export const heartbeatFrame = (position: number) => `: heartbeat\nid: ${position}\n\n`

/** Tells the client how long to wait before reconnecting. */
export const retryFrame = (millis: number) => `retry: ${millis}\n\n`

/** The endless feed after `after` as SSE frames: events, and heartbeats while quiet. */
export const eventFeed = (store: EventStoreShape, after: number, filter: FeedFilter, options: FeedOptions = defaultFeedOptions) =>
  liveEvents(store, after, filter, { ...options, follow: true }).pipe(
    Stream.map((item) => item._tag === "Event" ? eventFrame(item.event) : heartbeatFrame(item.position))
  )
