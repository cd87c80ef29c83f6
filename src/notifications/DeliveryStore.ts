/**
 * The delivery records of push notifications (migrations 0003 and 0006): the claim a worker takes
 * before it sends, what came of it, and — for a delivery not yet settled — the task itself and when
 * the sweeper may publish it again. They, not the broker, say which notifications are still pending.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Context, Duration, Effect, Layer } from "effect"
import type { NotificationTask } from "../messaging/contracts.js"

/** What the claim found. */
export type Claim =
  /**
   * This worker may send; `attempt` counts this one (1 for the first) and identifies the claim.
   * `tookOver`: the previous claim ran out with nothing recorded, so that attempt may have pushed.
   */
  | { readonly _tag: "Claimed"; readonly attempt: number; readonly tookOver: boolean }
  /** Sent before, or given up: nothing to do but ack. */
  | { readonly _tag: "Settled"; readonly status: "sent" | "dead" }
  /** Another worker holds an unexpired claim: look again once it has run out. */
  | { readonly _tag: "Busy"; readonly retryIn: Duration.Duration }

/** A task to claim, with the routing key it was published with (kept for the sweeper). */
export interface ClaimRequest {
  readonly task: NotificationTask
  readonly routingKey: string
}

export interface Lease {
  /** How long the claim keeps other workers off the task. */
  readonly duration: Duration.Duration
  /** From now, when the sweeper may publish the task again if it is still not settled by then. */
  readonly sweepAfter: Duration.Duration
}

/** A delivery the sweeper took: neither sent nor given up, and past its due time. */
export interface StuckDelivery {
  readonly eventId: string
  readonly routingKey: string
  /** The task as JSON, as it was first received. */
  readonly task: string
  readonly status: "sending" | "retrying"
}

export interface DeliveryStoreShape {
  /** Claims each task (event ids distinct); tells per event id what the claim found. */
  readonly claimMany: (
    requests: ReadonlyArray<ClaimRequest>,
    lease: Lease
  ) => Effect.Effect<ReadonlyMap<string, Claim>, SqlError.SqlError>
  /** Extends the claim `attempt` took; false when it is no longer this claim (it ran out and was taken). */
  readonly renewClaim: (eventId: string, attempt: number, lease: Lease) => Effect.Effect<boolean, SqlError.SqlError>
  readonly markSent: (eventId: string) => Effect.Effect<void, SqlError.SqlError>
  /**
   * The attempt failed and will be retried: the claim is released, and the sweeper may publish the
   * task again after `sweepAfter`. False when the claim was no longer `attempt`'s.
   */
  readonly markRetrying: (
    eventId: string,
    attempt: number,
    error: string,
    sweepAfter: Duration.Duration
  ) => Effect.Effect<boolean, SqlError.SqlError>
  readonly markDead: (eventId: string, error: string) => Effect.Effect<void, SqlError.SqlError>
  /** Dead tasks sent back to the queue by an operator start over with fresh attempts. */
  readonly reopen: (eventIds: ReadonlyArray<string>) => Effect.Effect<void, SqlError.SqlError>
  /**
   * Takes up to `limit` deliveries past their due time for the sweeper, oldest first, and moves their
   * due time `redriveAfter` on, so that no other sweeper takes them meanwhile.
   */
  readonly takeStuck: (
    limit: number,
    redriveAfter: Duration.Duration
  ) => Effect.Effect<ReadonlyArray<StuckDelivery>, SqlError.SqlError>
  /** How many deliveries are past their due time now: what the sweepers have yet to take. */
  readonly countStuck: Effect.Effect<number, SqlError.SqlError>
  /** Deletes up to `limit` settled deliveries (sent or dead) older than `retention`; gives the count. */
  readonly purgeSettled: (retention: Duration.Duration, limit: number) => Effect.Effect<number, SqlError.SqlError>
}

export class DeliveryStore extends Context.Tag("app/DeliveryStore")<DeliveryStore, DeliveryStoreShape>() {}

const seconds = (duration: Duration.Duration) => Duration.toMillis(duration) / 1000

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  // One statement for a batch: a new task is claimed by inserting it; a known one only if it waits
  // for a retry or its claim ran out. For the others the row is returned untouched, to say why not.
  const claimMany: DeliveryStoreShape["claimMany"] = (requests, lease) => {
    const input = JSON.stringify(requests.map(({ routingKey, task }) => ({
      event_id: task.eventId,
      stream_id: task.streamId,
      customer_id: task.customerId,
      notification: task.notification,
      recorded_at: task.recordedAt,
      routing_key: routingKey,
      task
    })))
    return sql<{
      event_id: string
      claimed: boolean
      took_over: boolean
      status: "sending" | "retrying" | "sent" | "dead" | null
      attempts: number
      wait_ms: number
    }>`
      WITH input AS (
        SELECT * FROM jsonb_to_recordset(${input}::jsonb) AS t(
          event_id uuid, stream_id text, customer_id text, notification text, recorded_at timestamptz,
          routing_key text, task jsonb
        )
      ), claimed AS (
        INSERT INTO notification_deliveries
          (event_id, stream_id, customer_id, notification, status, attempts, claimed_until, sweep_at, recorded_at,
           routing_key, task)
        SELECT event_id, stream_id, customer_id, notification, 'sending', 1,
          now() + make_interval(secs => ${seconds(lease.duration)}), now() + make_interval(secs => ${seconds(lease.sweepAfter)}),
          recorded_at, routing_key, task
        FROM input
        ON CONFLICT (event_id) DO UPDATE
          SET status = 'sending', attempts = notification_deliveries.attempts + 1,
              claimed_until = EXCLUDED.claimed_until, sweep_at = EXCLUDED.sweep_at,
              took_over = notification_deliveries.status = 'sending',
              routing_key = coalesce(notification_deliveries.routing_key, EXCLUDED.routing_key),
              task = coalesce(notification_deliveries.task, EXCLUDED.task),
              updated_at = now()
          WHERE notification_deliveries.status = 'retrying'
             OR (notification_deliveries.status = 'sending' AND notification_deliveries.claimed_until < now())
        RETURNING event_id, attempts, took_over
      )
      SELECT input.event_id::text AS event_id, claimed.event_id IS NOT NULL AS claimed,
        coalesce(claimed.took_over, false) AS took_over,
        CASE WHEN claimed.event_id IS NOT NULL THEN 'sending' ELSE existing.status END AS status,
        coalesce(claimed.attempts, existing.attempts, 0) AS attempts,
        greatest(0, coalesce(ceil(extract(epoch FROM existing.claimed_until - now()) * 1000), 0))::int AS wait_ms
      FROM input
      LEFT JOIN claimed ON claimed.event_id = input.event_id
      LEFT JOIN notification_deliveries existing ON existing.event_id = input.event_id AND claimed.event_id IS NULL`.pipe(
      Effect.map((rows) =>
        new Map(rows.map((row): [string, Claim] => {
          if (row.claimed) return [row.event_id, { _tag: "Claimed", attempt: row.attempts, tookOver: row.took_over }]
          if (row.status === "sent" || row.status === "dead") return [row.event_id, { _tag: "Settled", status: row.status }]
          // Claimed elsewhere (or inserted by a transaction this one cannot see yet).
          return [row.event_id, { _tag: "Busy", retryIn: Duration.millis(Math.max(row.wait_ms, 100)) }]
        }))
      ),
      Effect.withSpan("DeliveryStore.claimMany", { attributes: { tasks: requests.length } })
    )
  }

  const renewClaim: DeliveryStoreShape["renewClaim"] = (eventId, attempt, lease) =>
    sql`UPDATE notification_deliveries
      SET claimed_until = now() + make_interval(secs => ${seconds(lease.duration)}),
          sweep_at = now() + make_interval(secs => ${seconds(lease.sweepAfter)}), updated_at = now()
      WHERE event_id = ${eventId}::uuid AND status = 'sending' AND attempts = ${attempt}
      RETURNING event_id`.pipe(
      Effect.map((rows) => rows.length > 0),
      Effect.withSpan("DeliveryStore.renewClaim", { attributes: { eventId, attempt } })
    )

  const markSent: DeliveryStoreShape["markSent"] = (eventId) =>
    sql`UPDATE notification_deliveries
      SET status = 'sent', sent_at = now(), claimed_until = NULL, sweep_at = NULL, last_error = NULL, updated_at = now()
      WHERE event_id = ${eventId}::uuid`.pipe(
      Effect.asVoid,
      Effect.withSpan("DeliveryStore.markSent", { attributes: { eventId } })
    )

  const markRetrying: DeliveryStoreShape["markRetrying"] = (eventId, attempt, error, sweepAfter) =>
    sql`UPDATE notification_deliveries
      SET status = 'retrying', claimed_until = NULL, last_error = ${error},
          sweep_at = now() + make_interval(secs => ${seconds(sweepAfter)}), updated_at = now()
      WHERE event_id = ${eventId}::uuid AND status = 'sending' AND attempts = ${attempt}
      RETURNING event_id`.pipe(
      Effect.map((rows) => rows.length > 0),
      Effect.withSpan("DeliveryStore.markRetrying", { attributes: { eventId, attempt } })
    )

  const markDead: DeliveryStoreShape["markDead"] = (eventId, error) =>
    sql`UPDATE notification_deliveries
      SET status = 'dead', claimed_until = NULL, sweep_at = NULL, last_error = ${error}, updated_at = now()
      WHERE event_id = ${eventId}::uuid AND status <> 'sent'`.pipe(
      Effect.asVoid,
      Effect.withSpan("DeliveryStore.markDead", { attributes: { eventId } })
    )

  // The re-queued dead letter carries the task from here on, as the first message did.
  const reopen: DeliveryStoreShape["reopen"] = (eventIds) =>
    eventIds.length === 0 ? Effect.void : sql`UPDATE notification_deliveries
      SET status = 'retrying', attempts = 0, claimed_until = NULL, sweep_at = NULL, updated_at = now()
      WHERE event_id IN ${sql.in(eventIds)} AND status = 'dead'`.pipe(Effect.asVoid)

  // SKIP LOCKED and the moved due time in one statement: sweepers running side by side take
  // disjoint rows, and a row taken is not taken again before `redriveAfter`.
  const takeStuck: DeliveryStoreShape["takeStuck"] = (limit, redriveAfter) =>
    sql<{ event_id: string; routing_key: string | null; task: string; status: "sending" | "retrying" }>`
      WITH stuck AS (
        SELECT event_id FROM notification_deliveries
        WHERE status IN ('sending', 'retrying') AND sweep_at < now() AND task IS NOT NULL
        ORDER BY sweep_at
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      )
      UPDATE notification_deliveries AS delivery
      SET sweep_at = now() + make_interval(secs => ${seconds(redriveAfter)}), updated_at = now()
      FROM stuck
      WHERE delivery.event_id = stuck.event_id
      RETURNING delivery.event_id::text AS event_id, delivery.routing_key, delivery.task::text AS task, delivery.status`.pipe(
      Effect.map((rows) =>
        rows.map((row): StuckDelivery => ({
          eventId: row.event_id,
          routingKey: row.routing_key ?? "",
          task: row.task,
          status: row.status
        }))
      ),
      Effect.withSpan("DeliveryStore.takeStuck", { attributes: { limit } })
    )

  const countStuck: DeliveryStoreShape["countStuck"] = sql<{ stuck: number }>`
    SELECT count(*)::int AS stuck FROM notification_deliveries
    WHERE status IN ('sending', 'retrying') AND sweep_at < now() AND task IS NOT NULL`.pipe(
    Effect.map((rows) => rows[0]?.stuck ?? 0)
  )

  const purgeSettled: DeliveryStoreShape["purgeSettled"] = (retention, limit) =>
    sql<{ purged: number }>`
      WITH old AS (
        SELECT event_id FROM notification_deliveries
        WHERE status IN ('sent', 'dead') AND updated_at < now() - make_interval(secs => ${seconds(retention)})
        ORDER BY updated_at
        LIMIT ${limit}
      ), deleted AS (
        DELETE FROM notification_deliveries d USING old WHERE d.event_id = old.event_id RETURNING 1
      )
      SELECT count(*)::int AS purged FROM deleted`.pipe(Effect.map(([row]) => row?.purged ?? 0))

  return DeliveryStore.of({ claimMany, renewClaim, markSent, markRetrying, markDead, reopen, takeStuck, countStuck, purgeSettled })
})

export const layer = Layer.effect(DeliveryStore, make)
