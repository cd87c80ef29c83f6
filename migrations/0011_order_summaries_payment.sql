-- The order state kept with each summary gained payment requests, declines and refunds, and its
-- `cancellationReason` became `cancelReason` (order snapshots moved to schema version 2 for the same
-- change). Summaries written before are brought to the new shape; their orders were paid, if at all,
-- in one step, so no request of theirs is pending.
UPDATE order_summaries
SET state = (state - 'cancellationReason') || jsonb_build_object(
  'cancelReason', state -> 'cancellationReason',
  'paymentAttempts', 0,
  'pendingPayment', NULL,
  'lastDecline', NULL,
  'refundedCents', NULL
)
WHERE state ? 'cancellationReason';
