/**
 * The live feed of the whole log as Server-Sent Events: every event in commit-safe order (the
 * store's `readAll`), from a position on, filtered by event type and stream type, with heartbeats
 * while nothing is sent. Each frame's `id` is the event's global position, so a reconnecting client
 * resumes with `Last-Event-ID`; a heartbeat also carries the position scanned so far (an `id` with no
 * data moves the client's last event id without dispatching an event), so a filtered feed does not
 * scan again what it skipped. Pull-based: the next batch is read only when the last one has been
 * written to the client, so a slow client slows its own feed and holds no more than one batch.
 */
import { Chunk, Clock, Duration, Effect, Option, Stream } from "effect"
import type { SqlError } from "@effect/sql"
import type { EventStoreShape, RecordedEvent, UnknownPosition } from "../../eventstore/EventStore.js"

export interface FeedFilter {
  /** Event types to send (all when empty). */
  readonly types: ReadonlyArray<string>
  /** Stream types to send (all when empty). */
  readonly streamTypes: ReadonlyArray<string>
}

export interface FeedOptions {
  readonly batchSize: number
  readonly pollInterval: Duration.DurationInput
  readonly heartbeatInterval: Duration.DurationInput
}

export const defaultFeedOptions: FeedOptions = { batchSize: 500, pollInterval: "250 millis", heartbeatInterval: "15 seconds" }

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

export const matches = (filter: FeedFilter) => (event: RecordedEvent) =>
  (filter.types.length === 0 || filter.types.includes(event.type)) &&
  (filter.streamTypes.length === 0 || filter.streamTypes.includes(event.streamType))

/** One event as an SSE frame (JSON has no raw newlines, so `data` is one line). */
export const eventFrame = (event: RecordedEvent) =>
  `id: ${event.globalPosition}\nevent: ${event.type}\ndata: ${JSON.stringify(feedEntry(event))}\n\n`

/** A comment that keeps proxies from closing the connection, and the position scanned so far. */
export const heartbeatFrame = (position: number) => `: heartbeat\nid: ${position}\n\n`

/** Tells the client how long to wait before reconnecting. */
export const retryFrame = (millis: number) => `retry: ${millis}\n\n`

interface Cursor {
  readonly position: number
  /** When a frame was last sent. */
  readonly sentAt: number
}

/** The feed after `after` (0: from the start), as SSE frames. Fails only if a read fails. */
export const eventFeed = (store: EventStoreShape, after: number, filter: FeedFilter, options: FeedOptions = defaultFeedOptions) => {
  const wanted = matches(filter)
  const heartbeatMillis = Duration.toMillis(options.heartbeatInterval)
  const step = (cursor: Cursor): Effect.Effect<
    Option.Option<readonly [Chunk.Chunk<string>, Cursor]>,
    UnknownPosition | SqlError.SqlError
  > =>
    Effect.gen(function*() {
      const events = yield* store.readAll({ afterPosition: cursor.position, limit: options.batchSize })
      const now = yield* Clock.currentTimeMillis
      const frames = events.filter(wanted).map(eventFrame)
      const position = events.at(-1)?.globalPosition ?? cursor.position
      if (frames.length > 0) return Option.some([Chunk.fromIterable(frames), { position, sentAt: now }] as const)
      // Nothing to send now: wait unless the batch was full (more is there), and beat when quiet too long.
      if (events.length < options.batchSize) yield* Effect.sleep(options.pollInterval)
      return now - cursor.sentAt >= heartbeatMillis
        ? Option.some([Chunk.of(heartbeatFrame(position)), { position, sentAt: now }] as const)
        : Option.some([Chunk.empty<string>(), { position, sentAt: cursor.sentAt }] as const)
    })
  return Stream.unwrap(Effect.map(Clock.currentTimeMillis, (sentAt) => Stream.unfoldChunkEffect({ position: after, sentAt }, step)))
}
