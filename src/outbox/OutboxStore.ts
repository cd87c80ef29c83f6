/**
 * The outbox's side of PostgreSQL (tables in migrations/0002_outbox.sql): the rows a destination has
 * still to receive, in commit-safe order, and its cursor.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Context, Data, Duration, Effect, Layer } from "effect"
import type { Notification } from "../domain/aggregate.js"
import type { CommitPosition } from "../eventstore/commitPosition.js"
import type { RecordedEvent } from "../eventstore/EventStore.js"
import { type EventRow, toRecordedEvent } from "../eventstore/PgEventStore.js"

export type Destination = "events" | "notifications"
export const destinations: ReadonlyArray<Destination> = ["events", "notifications"]

export interface OutboxEntry {
  readonly cursor: CommitPosition
  readonly event: RecordedEvent
  /** Set for the notifications destination. */
  readonly notification: Notification | null
}

/** What a destination has still to receive: how many rows, and how long the oldest has waited (0 when none). */
export interface Backlog {
  readonly pending: number
  readonly oldestAgeSeconds: number
}

/** The cursor was not moved: this process no longer holds the relay lock. */
export class LeadershipLost extends Data.TaggedError("LeadershipLost")<{ readonly destination: Destination }> {}

export interface OutboxStoreShape {
  readonly cursorOf: (destination: Destination) => Effect.Effect<CommitPosition, SqlError.SqlError>
  /** Up to `limit` rows after `cursor`, of transactions that have ended, in commit order. */
  readonly pending: (
    destination: Destination,
    after: CommitPosition,
    limit: number
  ) => Effect.Effect<ReadonlyArray<OutboxEntry>, SqlError.SqlError>
  /**
   * Moves the cursor, only while the session `leaderPid` still holds the relay lock `lockKey`: a
   * relay that lost its lock (its session ended) can no longer mark anything delivered.
   */
  readonly advance: (
    destination: Destination,
    to: CommitPosition,
    fence: { readonly lockKey: number; readonly leaderPid: number }
  ) => Effect.Effect<void, LeadershipLost | SqlError.SqlError>
  /** Rows not yet delivered, per destination (ended transactions only). */
  readonly backlog: Effect.Effect<Readonly<Record<Destination, Backlog>>, SqlError.SqlError>
  /**
   * Puts an event back in line for a destination: a new outbox row, in a transaction of its own, so
   * it sorts after everything relayed so far (a quarantined row, retried).
   */
  readonly requeue: (
    destination: Destination,
    globalPosition: number,
    notification: Notification | null
  ) => Effect.Effect<void, SqlError.SqlError>
  /** Deletes delivered rows older than `retention`, at most `limit` per destination; gives the count. */
  readonly purge: (retention: Duration.Duration, limit: number) => Effect.Effect<number, SqlError.SqlError>
}

export class OutboxStore extends Context.Tag("app/OutboxStore")<OutboxStore, OutboxStoreShape>() {}

interface PendingRow extends EventRow {
  readonly outbox_transaction_id: string
  readonly notification: Notification | null
}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  const cursorOf: OutboxStoreShape["cursorOf"] = (destination) =>
    sql<{ transaction_id: string; global_position: number }>`
      SELECT transaction_id::text AS transaction_id, global_position FROM outbox_cursors
      WHERE destination = ${destination}`.pipe(
      Effect.map(([row]) => ({ transactionId: row?.transaction_id ?? "0", globalPosition: row?.global_position ?? 0 }))
    )

  // The same bound as EventStore.readAll: rows of transactions below the oldest one in flight have
  // all committed (or rolled back), and any row that becomes visible later sorts after them.
  const pending: OutboxStoreShape["pending"] = (destination, after, limit) =>
    sql<PendingRow>`
      SELECT o.transaction_id::text AS outbox_transaction_id, o.payload AS notification,
        e.global_position, e.event_id, e.stream_id, e.stream_type, e.version, e.event_type, e.schema_version,
        e.payload, e.metadata, e.recorded_at
      FROM outbox o JOIN events e ON e.global_position = o.global_position
      WHERE o.destination = ${destination}
        AND (o.transaction_id, o.global_position) > (${after.transactionId}::xid8, ${after.globalPosition}::bigint)
        AND o.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
      ORDER BY o.transaction_id, o.global_position
      LIMIT ${limit}`.pipe(
      Effect.map((rows) =>
        rows.map((row): OutboxEntry => ({
          cursor: { transactionId: row.outbox_transaction_id, globalPosition: row.global_position },
          notification: row.notification,
          event: toRecordedEvent(row)
        }))
      ),
      Effect.withSpan("OutboxStore.pending", { attributes: { destination, limit } })
    )

  const advance: OutboxStoreShape["advance"] = (destination, to, fence) =>
    sql<{ destination: string }>`
      UPDATE outbox_cursors
      SET transaction_id = ${to.transactionId}::xid8, global_position = ${to.globalPosition}, updated_at = now()
      WHERE destination = ${destination}
        AND EXISTS (
          SELECT 1 FROM pg_locks
          WHERE locktype = 'advisory' AND classid = 0 AND objid = ${fence.lockKey} AND objsubid = 1
            AND pid = ${fence.leaderPid} AND granted
        )
      RETURNING destination`.pipe(
      Effect.flatMap((rows) => rows.length === 1 ? Effect.void : Effect.fail(new LeadershipLost({ destination })))
    )

  // The oldest row is the first after the cursor in commit order: one step along the primary key.
  const backlog: OutboxStoreShape["backlog"] = sql<{ destination: Destination; pending: number; oldest_age_seconds: number }>`
    SELECT c.destination,
      (SELECT count(*) FROM outbox o
        WHERE o.destination = c.destination
          AND (o.transaction_id, o.global_position) > (c.transaction_id, c.global_position))::int AS pending,
      coalesce(extract(epoch FROM now() - (
        SELECT o.created_at FROM outbox o
        WHERE o.destination = c.destination
          AND (o.transaction_id, o.global_position) > (c.transaction_id, c.global_position)
        ORDER BY o.transaction_id, o.global_position
        LIMIT 1
      )), 0)::float8 AS oldest_age_seconds
    FROM outbox_cursors c`.pipe(
    Effect.map((rows) => {
      const none: Backlog = { pending: 0, oldestAgeSeconds: 0 }
      const backlogs: Record<Destination, Backlog> = { events: none, notifications: none }
      for (const row of rows) {
        backlogs[row.destination] = { pending: row.pending, oldestAgeSeconds: Math.max(0, row.oldest_age_seconds) }
      }
      return backlogs
    })
  )

  const purge: OutboxStoreShape["purge"] = (retention, limit) =>
    sql<{ purged: number }>`
      WITH delivered AS (
        SELECT o.destination, o.transaction_id, o.global_position
        FROM outbox_cursors c
        CROSS JOIN LATERAL (
          SELECT destination, transaction_id, global_position FROM outbox
          WHERE destination = c.destination
            AND (transaction_id, global_position) <= (c.transaction_id, c.global_position)
            AND created_at < now() - make_interval(secs => ${Duration.toSeconds(retention)})
          ORDER BY transaction_id, global_position
          LIMIT ${limit}
        ) o
      ), deleted AS (
        DELETE FROM outbox USING delivered
        WHERE outbox.destination = delivered.destination AND outbox.transaction_id = delivered.transaction_id
          AND outbox.global_position = delivered.global_position
        RETURNING 1
      )
      SELECT count(*)::int AS purged FROM deleted`.pipe(Effect.map(([row]) => row?.purged ?? 0))

  const requeue: OutboxStoreShape["requeue"] = (destination, globalPosition, notification) =>
    Effect.asVoid(sql`INSERT INTO outbox (destination, global_position, payload)
      VALUES (${destination}, ${globalPosition}, ${notification === null ? null : JSON.stringify(notification)}::jsonb)`)

  return OutboxStore.of({ cursorOf, pending, advance, backlog, purge, requeue })
})

export const layer = Layer.effect(OutboxStore, make)
