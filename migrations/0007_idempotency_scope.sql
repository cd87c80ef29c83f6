-- An idempotency key belongs to whoever sent it: the same key from two callers never meets. `scope`
-- names the caller ('' where there is none); keys are purged after a retention (IDEMPOTENCY_RETENTION),
-- oldest first, through the index on created_at.
ALTER TABLE idempotency_keys ADD COLUMN scope text NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (scope, idempotency_key);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
