/**
 * What the console reads beyond the actors: an order's notifications (its rows in the outbox and
 * their deliveries).
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Effect } from "effect"

/** One notification of an order: where it is on its way to the customer. */
export interface NotificationRow {
  readonly eventId: string
  readonly version: number
  readonly eventType: string
  readonly notification: string | null
  /** `waiting` in the outbox, `relayed` to RabbitMQ (no worker has claimed it yet), or the delivery's status. */
  readonly status: "waiting" | "relayed" | "sending" | "retrying" | "sent" | "dead"
  readonly attempts: number
  readonly lastError: string | null
  readonly sentAt: Date | null
  readonly updatedAt: Date | null
  /** The last attempt took over a claim that ran out unrecorded: that push may have been repeated. */
  readonly tookOver: boolean
}

interface Row {
  readonly event_id: string
  readonly version: number
  readonly event_type: string
  readonly outbox_name: string | null
  readonly relayed: boolean | null
  readonly notification: string | null
  readonly status: "sending" | "retrying" | "sent" | "dead" | null
  readonly attempts: number | null
  readonly last_error: string | null
  readonly sent_at: Date | null
  readonly updated_at: Date | null
  readonly took_over: boolean | null
}

/**
 * The notifications of a stream's events: those still in the outbox (kept there for its retention
 * once relayed) and those a worker has claimed (kept for WORKER_DELIVERY_RETENTION).
 */
export const notificationsOf = (streamId: string): Effect.Effect<ReadonlyArray<NotificationRow>, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<Row>`
      SELECT DISTINCT ON (e.version) e.event_id::text AS event_id, e.version, e.event_type,
        o.payload->>'name' AS outbox_name,
        CASE WHEN o.global_position IS NULL THEN NULL
          ELSE (o.transaction_id, o.global_position) <= (c.transaction_id, c.global_position) END AS relayed,
        d.notification, d.status, d.attempts, d.last_error, d.sent_at, d.updated_at, d.took_over
      FROM events e
      CROSS JOIN (SELECT transaction_id, global_position FROM outbox_cursors WHERE destination = 'notifications') c
      LEFT JOIN outbox o ON o.destination = 'notifications' AND o.global_position = e.global_position
      LEFT JOIN notification_deliveries d ON d.event_id = e.event_id
      WHERE e.stream_id = ${streamId} AND (o.global_position IS NOT NULL OR d.event_id IS NOT NULL)
      ORDER BY e.version, o.transaction_id DESC`.pipe(
      Effect.map((rows) =>
        rows.map((row): NotificationRow => ({
          eventId: row.event_id,
          version: row.version,
          eventType: row.event_type,
          notification: row.notification ?? row.outbox_name,
          status: row.status ?? (row.relayed === true ? "relayed" : "waiting"),
          attempts: row.attempts ?? 0,
          lastError: row.last_error,
          sentAt: row.sent_at,
          updatedAt: row.updated_at,
          tookOver: row.took_over ?? false
        }))
      )
    ))

