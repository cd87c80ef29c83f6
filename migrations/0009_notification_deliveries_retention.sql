-- Settled deliveries (sent or dead) are deleted after WORKER_DELIVERY_RETENTION, oldest first: a
-- duplicate of a task turns up within minutes, so a week of records keeps deduplication whole.
CREATE INDEX notification_deliveries_settled_idx ON notification_deliveries (updated_at) WHERE status IN ('sent', 'dead');
