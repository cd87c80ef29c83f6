-- One row per push-notification task (keyed by its event id): whether it was sent, is being sent, is
-- waiting for a retry, or was given up. It is what makes delivery exactly-once in effect on top of
-- RabbitMQ's at-least-once: a task whose row says 'sent' is never sent again, whatever is redelivered.
--
-- 'sending' is a claim with a deadline (claimed_until): a worker that dies while sending leaves it,
-- and the task may be claimed again once the deadline has passed (and sent with the same
-- Idempotency-Key, so a gateway that honours it shows the push once).
CREATE TABLE notification_deliveries (
  event_id      uuid        PRIMARY KEY,
  stream_id     text        NOT NULL,
  customer_id   text        NOT NULL,
  notification  text        NOT NULL,
  status        text        NOT NULL CHECK (status IN ('sending', 'retrying', 'sent', 'dead')),
  attempts      integer     NOT NULL DEFAULT 0,
  claimed_until timestamptz,
  last_error    text,
  recorded_at   timestamptz NOT NULL,
  sent_at       timestamptz,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX notification_deliveries_status_idx ON notification_deliveries (status) WHERE status <> 'sent';
