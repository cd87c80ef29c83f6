-- Snapshots: an aggregate's state at a version, so that loading it reads the latest snapshot and only
-- the events after it. A cache, never the truth: one that cannot be read, was written by another
-- state schema version, or claims a version the stream does not have is ignored and the stream is
-- replayed in full. The latest few per stream are kept.
CREATE TABLE snapshots (
  stream_id      text        NOT NULL,
  version        integer     NOT NULL CHECK (version > 0),
  stream_type    text        NOT NULL,
  schema_version integer     NOT NULL,
  state          jsonb       NOT NULL,
  taken_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stream_id, version)
);
