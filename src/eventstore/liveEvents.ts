/**
 * The log as it grows: every event in commit-safe order (the store's `readAll`) from a position on,
 * filtered by event type and stream type, following new commits or stopping when caught up, and
 * saying when it has been quiet for a while. Pull-based: the next batch is read only when the last
 * one has been taken, so a slow reader slows its own feed and holds no more than one batch. The SSE
 * feed (`GET /events/stream`) and `events tail` read it.
 */
import type { SqlError } from "@effect/sql"
import { Chunk, Clock, Duration, Effect, Option, Stream } from "effect"
import type { EventStoreShape, RecordedEvent, UnknownPosition } from "./EventStore.js"

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

export const matches = (filter: FeedFilter) => (event: RecordedEvent) =>
  (filter.types.length === 0 || filter.types.includes(event.type)) &&
  (filter.streamTypes.length === 0 || filter.streamTypes.includes(event.streamType))

interface Cursor {
  readonly position: number
  /** When something was last handed on. */
  readonly sentAt: number
  /** Caught up, and asked to stop there. */
  readonly done: boolean
}

/** An event of the feed, or a quiet spell: nothing handed on for a heartbeat interval, the log scanned to `position`. */
export type FeedItem =
  | { readonly _tag: "Event"; readonly event: RecordedEvent }
  | { readonly _tag: "Quiet"; readonly position: number }

/**
 * The log after `after` (0: from the start), filtered: endless when following, else until caught
 * up with what is committed now. Fails only if a read fails.
 */
export const liveEvents = (
  store: EventStoreShape,
  after: number,
  filter: FeedFilter,
  options: FeedOptions & { readonly follow: boolean } = { ...defaultFeedOptions, follow: true }
) => {
  const wanted = matches(filter)
  const heartbeatMillis = Duration.toMillis(options.heartbeatInterval)
  const step = (cursor: Cursor): Effect.Effect<
    Option.Option<readonly [Chunk.Chunk<FeedItem>, Cursor]>,
    UnknownPosition | SqlError.SqlError
  > =>
    Effect.gen(function*() {
      if (cursor.done) return Option.none()
      const events = yield* store.readAll({ afterPosition: cursor.position, limit: options.batchSize })
      const now = yield* Clock.currentTimeMillis
      const position = events.at(-1)?.globalPosition ?? cursor.position
      const caughtUp = events.length < options.batchSize
      const items = events.filter(wanted).map((event): FeedItem => ({ _tag: "Event", event }))
      if (items.length > 0 || !options.follow) {
        return Option.some([Chunk.fromIterable(items), { position, sentAt: now, done: caughtUp && !options.follow }] as const)
      }
      // Nothing to hand on: wait unless the batch was full (more is there), and say so when quiet too long.
      if (caughtUp) yield* Effect.sleep(options.pollInterval)
      return now - cursor.sentAt >= heartbeatMillis
        ? Option.some([Chunk.of<FeedItem>({ _tag: "Quiet", position }), { position, sentAt: now, done: false }] as const)
        : Option.some([Chunk.empty<FeedItem>(), { position, sentAt: cursor.sentAt, done: false }] as const)
    })
  return Stream.unwrap(Effect.map(Clock.currentTimeMillis, (sentAt) => Stream.unfoldChunkEffect({ position: after, sentAt, done: false }, step)))
}
