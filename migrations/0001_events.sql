-- The event store: one immutable row per event.
--
-- global_position comes from an identity sequence, taken before commit, so positions do not follow
-- commit order: a transaction holding position 7 can commit after another holding 8. Readers of the
-- whole log therefore do not walk global_position alone; they walk (transaction_id, global_position)
-- and stop below the oldest transaction still in flight (see src/eventstore/PgEventStore.ts).
CREATE TABLE events (
  global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
  stream_id       text        NOT NULL,
  stream_type     text        NOT NULL,
  version         integer     NOT NULL CHECK (version > 0),
  event_id        uuid        NOT NULL,
  event_type      text        NOT NULL,
  schema_version  integer     NOT NULL CHECK (schema_version > 0),
  payload         jsonb       NOT NULL,
  metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT events_stream_version_key UNIQUE (stream_id, version),
  CONSTRAINT events_event_id_key UNIQUE (event_id)
);

CREATE INDEX events_commit_order_idx ON events (transaction_id, global_position);

-- A command's idempotency key, with the fingerprint of the request that first used it and the result
-- it got, so that a retry returns that result and appends nothing.
CREATE TABLE idempotency_keys (
  idempotency_key text        PRIMARY KEY,
  stream_id       text        NOT NULL,
  request_hash    text        NOT NULL,
  result          jsonb       NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);
