-- The process manager's index of its sagas (their truth is their own event streams): when each next
-- has something to do, by when its current step should be done, and how it stands, for the waker,
-- the stuck-saga metrics and `sagas list`. Rewritten after every change to a saga, never behind it:
-- a row moves only to a higher stream version.
CREATE TABLE process_instances (
  process            text        NOT NULL,
  saga_id            text        NOT NULL,
  definition_version integer     NOT NULL,
  -- running | parked (a step waits for an operator) | finished
  status             text        NOT NULL,
  outcome            text,
  stream_version     integer     NOT NULL,
  -- The earliest step or timer due; null while the saga waits only for events.
  next_wake_at       timestamptz,
  -- By when the earliest scheduled step should have been done: past it, nothing is running it.
  deadline_at        timestamptz,
  -- A waker working on it until then; others leave it alone.
  leased_until       timestamptz,
  current_step       text,
  attempts           integer     NOT NULL DEFAULT 0,
  last_error         text,
  started_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL,
  finished_at        timestamptz,
  PRIMARY KEY (process, saga_id)
);
CREATE INDEX process_instances_wake_idx ON process_instances (process, next_wake_at) WHERE next_wake_at IS NOT NULL;
CREATE INDEX process_instances_open_idx ON process_instances (process, started_at) WHERE status <> 'finished';

-- Where each process's feed has read the event log to.
CREATE TABLE process_checkpoints (
  process    text        PRIMARY KEY,
  position   bigint      NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
