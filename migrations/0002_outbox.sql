-- The transactional outbox: what each destination still has to receive, written by the append that
-- writes the events, in the same transaction.
--
-- destination 'events'        every event, for the event log (Kafka `<stream type>.events`);
--                             the relay reads the event itself from `events`.
-- destination 'notifications' the events a customer hears about; `payload` holds the notification
--                             (RabbitMQ `notifications` exchange).
--
-- Rows are relayed in commit-safe order, (transaction_id, global_position) below the oldest
-- transaction still in flight, as readAll reads `events`. Each destination has its own cursor, so
-- one broker being down never holds the other back. Rows behind a cursor are delivered and are
-- deleted once older than the retention period.
CREATE TABLE outbox (
  destination     text        NOT NULL CHECK (destination IN ('events', 'notifications')),
  transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
  global_position bigint      NOT NULL,
  payload         jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (destination, transaction_id, global_position)
);

-- How far each destination has been delivered (confirmed by its broker).
CREATE TABLE outbox_cursors (
  destination     text        PRIMARY KEY,
  transaction_id  xid8        NOT NULL DEFAULT '0',
  global_position bigint      NOT NULL DEFAULT 0,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO outbox_cursors (destination) VALUES ('events'), ('notifications');
