-- Read model: one row per order, shaped for a "my orders" screen, built by the projector from
-- Kafka (and rebuilt from the event store). `state` is the order's state as the domain folds it, so
-- the projector applies each event with the domain's own evolve; the columns beside it are what
-- queries read. `last_version` makes applying idempotent: an event at or below it is skipped.
CREATE TABLE order_summaries (
  order_id     text        PRIMARY KEY,
  customer_id  text        NOT NULL,
  status       text        NOT NULL,
  currency     text        NOT NULL,
  total_cents  bigint      NOT NULL,
  item_count   integer     NOT NULL,
  last_version integer     NOT NULL,
  placed_at    timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  state        jsonb       NOT NULL,
  -- When the projector last wrote the row (updated_at is when its latest event was committed).
  projected_at timestamptz NOT NULL DEFAULT now()
);

-- The per-customer list, newest first: served from this index, one write per event.
CREATE INDEX order_summaries_by_customer ON order_summaries (customer_id, placed_at DESC, order_id DESC);
