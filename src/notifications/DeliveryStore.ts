/**
 * The delivery records of push notifications (migrations/0003_notification_deliveries.sql): the
 * claim a worker takes before it sends, and what came of it.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Context, Duration, Effect, Layer } from "effect"
import type { NotificationTask } from "../outbox/messages.js"

/** What the claim found. */
export type Claim =
  /** This worker may send; `attempt` counts this one (1 for the first). */
  | { readonly _tag: "Claimed"; readonly attempt: number }
  /** Sent before, or given up: nothing to do but ack. */
  | { readonly _tag: "Settled"; readonly status: "sent" | "dead" }
  /** Another worker holds an unexpired claim: look again once it has run out. */
  | { readonly _tag: "Busy"; readonly retryIn: Duration.Duration }

export interface DeliveryStoreShape {
  /** Claims each task (event ids distinct); tells per event id what the claim found. */
  readonly claimMany: (
    tasks: ReadonlyArray<NotificationTask>,
    lease: Duration.Duration
  ) => Effect.Effect<ReadonlyMap<string, Claim>, SqlError.SqlError>
  readonly markSent: (eventIds: ReadonlyArray<string>) => Effect.Effect<void, SqlError.SqlError>
  /** The attempt failed and will be retried: the claim is released. */
  readonly markRetrying: (eventId: string, error: string) => Effect.Effect<void, SqlError.SqlError>
  readonly markDead: (eventId: string, error: string) => Effect.Effect<void, SqlError.SqlError>
  /** Dead tasks sent back to the queue by an operator start over with fresh attempts. */
  readonly reopen: (eventIds: ReadonlyArray<string>) => Effect.Effect<void, SqlError.SqlError>
}

export class DeliveryStore extends Context.Tag("app/DeliveryStore")<DeliveryStore, DeliveryStoreShape>() {}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  // One statement for a batch: a new task is claimed by inserting it; a known one only if it waits
  // for a retry or its claim ran out. For the others the row is returned untouched, to say why not.
  const claimMany: DeliveryStoreShape["claimMany"] = (tasks, lease) => {
    const input = JSON.stringify(tasks.map((task) => ({
      event_id: task.eventId,
      stream_id: task.streamId,
      customer_id: task.customerId,
      notification: task.notification,
      recorded_at: task.recordedAt
    })))
    return sql<{ event_id: string; claimed: boolean; status: "sending" | "retrying" | "sent" | "dead" | null; attempts: number; wait_ms: number }>`
      WITH input AS (
        SELECT * FROM jsonb_to_recordset(${input}::jsonb)
          AS t(event_id uuid, stream_id text, customer_id text, notification text, recorded_at timestamptz)
      ), claimed AS (
        INSERT INTO notification_deliveries
          (event_id, stream_id, customer_id, notification, status, attempts, claimed_until, recorded_at)
        SELECT event_id, stream_id, customer_id, notification, 'sending', 1,
          now() + make_interval(secs => ${Duration.toSeconds(lease)}), recorded_at
        FROM input
        ON CONFLICT (event_id) DO UPDATE
          SET status = 'sending', attempts = notification_deliveries.attempts + 1,
              claimed_until = EXCLUDED.claimed_until, updated_at = now()
          WHERE notification_deliveries.status = 'retrying'
             OR (notification_deliveries.status = 'sending' AND notification_deliveries.claimed_until < now())
        RETURNING event_id, attempts
      )
      SELECT input.event_id::text AS event_id, claimed.event_id IS NOT NULL AS claimed,
        CASE WHEN claimed.event_id IS NOT NULL THEN 'sending' ELSE existing.status END AS status,
        coalesce(claimed.attempts, existing.attempts, 0) AS attempts,
        greatest(0, coalesce(ceil(extract(epoch FROM existing.claimed_until - now()) * 1000), 0))::int AS wait_ms
      FROM input
      LEFT JOIN claimed ON claimed.event_id = input.event_id
      LEFT JOIN notification_deliveries existing ON existing.event_id = input.event_id AND claimed.event_id IS NULL`.pipe(
      Effect.map((rows) =>
        new Map(rows.map((row): [string, Claim] => {
          if (row.claimed) return [row.event_id, { _tag: "Claimed", attempt: row.attempts }]
          if (row.status === "sent" || row.status === "dead") return [row.event_id, { _tag: "Settled", status: row.status }]
          // Claimed elsewhere (or inserted by a transaction this one cannot see yet).
          return [row.event_id, { _tag: "Busy", retryIn: Duration.millis(Math.max(row.wait_ms, 100)) }]
        }))
      ),
      Effect.withSpan("DeliveryStore.claimMany", { attributes: { tasks: tasks.length } })
    )
  }

  const markSent: DeliveryStoreShape["markSent"] = (eventIds) =>
    eventIds.length === 0 ? Effect.void : sql`UPDATE notification_deliveries
      SET status = 'sent', sent_at = now(), claimed_until = NULL, last_error = NULL, updated_at = now()
      WHERE event_id IN ${sql.in(eventIds)}`.pipe(Effect.asVoid)

  const markRetrying: DeliveryStoreShape["markRetrying"] = (eventId, error) =>
    sql`UPDATE notification_deliveries
      SET status = 'retrying', claimed_until = NULL, last_error = ${error}, updated_at = now()
      WHERE event_id = ${eventId}::uuid AND status = 'sending'`.pipe(Effect.asVoid)

  const markDead: DeliveryStoreShape["markDead"] = (eventId, error) =>
    sql`UPDATE notification_deliveries
      SET status = 'dead', claimed_until = NULL, last_error = ${error}, updated_at = now()
      WHERE event_id = ${eventId}::uuid AND status <> 'sent'`.pipe(Effect.asVoid)

  const reopen: DeliveryStoreShape["reopen"] = (eventIds) =>
    eventIds.length === 0 ? Effect.void : sql`UPDATE notification_deliveries
      SET status = 'retrying', attempts = 0, claimed_until = NULL, updated_at = now()
      WHERE event_id IN ${sql.in(eventIds)} AND status = 'dead'`.pipe(Effect.asVoid)

  return DeliveryStore.of({ claimMany, markSent, markRetrying, markDead, reopen })
})

export const layer = Layer.effect(DeliveryStore, make)
