-- PostgreSQL, not the broker, is the source of truth for pending push notifications: a delivery
-- that is neither sent nor given up keeps what it takes to publish its task again, and the time
-- after which a worker's sweeper does so if nothing has settled it by then (the broker lost the
-- task's message, or the worker holding it died and the message went with it).
--
--   task         the task as the worker first received it, and the routing key it came with;
--                rows claimed before this migration have none and are left to their messages.
--   sweep_at     when the sweeper may publish the task again: the end of the claim's lease or of
--                the retry's wait, plus a grace; moved forward each time the sweeper takes the row.
--   took_over    this attempt took over a claim that ran out unrecorded: its worker died or
--                stalled after claiming, so the push may repeat one already made (same key).
ALTER TABLE notification_deliveries
  ADD COLUMN task        jsonb,
  ADD COLUMN routing_key text,
  ADD COLUMN sweep_at    timestamptz,
  ADD COLUMN took_over   boolean NOT NULL DEFAULT false;

CREATE INDEX notification_deliveries_sweep_idx ON notification_deliveries (sweep_at)
  WHERE status IN ('sending', 'retrying');
