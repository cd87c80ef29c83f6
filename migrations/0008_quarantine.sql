-- What can never be processed is parked here with the reason, so that its stream moves on: an
-- outbox row its broker refuses for good (too large, unroutable), a Kafka message the projector
-- cannot decode. `npx tsx src/cli/main.ts quarantine list | retry` show and retry them.
CREATE TABLE quarantine (
  id              bigserial   PRIMARY KEY,
  -- Where it was stopped: outbox:events, outbox:notifications, projector:order_summaries.
  source          text        NOT NULL,
  -- The stored event it concerns, when that is known.
  global_position bigint,
  reason          text        NOT NULL,
  -- What arrived, when it is not a stored event (an undecodable message), as text.
  received        text,
  quarantined_at  timestamptz NOT NULL DEFAULT now(),
  retried_at      timestamptz
);
CREATE INDEX quarantine_waiting_idx ON quarantine (quarantined_at) WHERE retried_at IS NULL;
-- An event is parked once per source: parked again (a relay that crashed before moving its cursor,
-- or a retry that failed), its entry is waiting again.
CREATE UNIQUE INDEX quarantine_event_idx ON quarantine (source, global_position) WHERE global_position IS NOT NULL;
