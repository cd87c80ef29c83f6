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
  readonly claim: (task: NotificationTask, lease: Duration.Duration) => Effect.Effect<Claim, SqlError.SqlError>
  readonly markSent: (eventId: string) => Effect.Effect<void, SqlError.SqlError>
  /** The attempt failed and will be retried: the claim is released. */
  readonly markRetrying: (eventId: string, error: string) => Effect.Effect<void, SqlError.SqlError>
  readonly markDead: (eventId: string, error: string) => Effect.Effect<void, SqlError.SqlError>
  /** Dead tasks sent back to the queue by an operator start over with fresh attempts. */
  readonly reopen: (eventIds: ReadonlyArray<string>) => Effect.Effect<void, SqlError.SqlError>
}

export class DeliveryStore extends Context.Tag("app/DeliveryStore")<DeliveryStore, DeliveryStoreShape>() {}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  // One statement: a new task is claimed by inserting it; a known one only if it waits for a retry
  // or its claim ran out. Otherwise the row is returned untouched, to say why not.
  const claim: DeliveryStoreShape["claim"] = (task, lease) =>
    sql<{ claimed: boolean; status: "sending" | "retrying" | "sent" | "dead"; attempts: number; wait_ms: number }>`
      WITH claimed AS (
        INSERT INTO notification_deliveries
          (event_id, stream_id, customer_id, notification, status, attempts, claimed_until, recorded_at)
        VALUES (${task.eventId}::uuid, ${task.streamId}, ${task.customerId}, ${task.notification}, 'sending', 1,
          now() + make_interval(secs => ${Duration.toSeconds(lease)}), ${task.recordedAt}::timestamptz)
        ON CONFLICT (event_id) DO UPDATE
          SET status = 'sending', attempts = notification_deliveries.attempts + 1,
              claimed_until = EXCLUDED.claimed_until, updated_at = now()
          WHERE notification_deliveries.status = 'retrying'
             OR (notification_deliveries.status = 'sending' AND notification_deliveries.claimed_until < now())
        RETURNING status, attempts
      )
      SELECT true AS claimed, status, attempts, 0 AS wait_ms FROM claimed
      UNION ALL
      SELECT false, status, attempts,
        greatest(0, ceil(extract(epoch FROM claimed_until - now()) * 1000))::int
      FROM notification_deliveries
      WHERE event_id = ${task.eventId}::uuid AND NOT EXISTS (SELECT 1 FROM claimed)`.pipe(
      Effect.map(([row]): Claim => {
        if (row === undefined) return { _tag: "Busy", retryIn: Duration.seconds(1) }
        if (row.claimed) return { _tag: "Claimed", attempt: row.attempts }
        if (row.status === "sent" || row.status === "dead") return { _tag: "Settled", status: row.status }
        return { _tag: "Busy", retryIn: Duration.millis(Math.max(row.wait_ms, 100)) }
      }),
      Effect.withSpan("DeliveryStore.claim", { attributes: { eventId: task.eventId } })
    )

  const markSent: DeliveryStoreShape["markSent"] = (eventId) =>
    sql`UPDATE notification_deliveries
      SET status = 'sent', sent_at = now(), claimed_until = NULL, last_error = NULL, updated_at = now()
      WHERE event_id = ${eventId}::uuid`.pipe(Effect.asVoid)

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
      WHERE event_id::text IN ${sql.in(eventIds)} AND status = 'dead'`.pipe(Effect.asVoid)

  return DeliveryStore.of({ claim, markSent, markRetrying, markDead, reopen })
})

export const layer = Layer.effect(DeliveryStore, make)
