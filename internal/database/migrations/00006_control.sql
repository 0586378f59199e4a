-- +goose Up
-- Cancel, the error threshold and retry (issue 5).
ALTER TABLE deliveries ADD COLUMN interrupt_reason text;
-- Deliveries interrupted whose remaining operations are still to be canceled.
CREATE INDEX deliveries_interrupted_idx ON deliveries (interrupted_at) WHERE interrupted_at IS NOT NULL AND completed_at IS NULL;
-- Deliveries read to the end and not completed: the sweep completes those
-- whose last operations ended in concurrent transactions.
CREATE INDEX deliveries_incomplete_idx ON deliveries (accepted_at) WHERE ingest_state = 'done' AND completed_at IS NULL;

-- Operations by key lead with the key: with (receipt_id, delivery_at, key)
-- the planner, misled by a partition analysed while nearly empty, probed
-- positions through it (receipt and time as the condition, the position as
-- a filter), reading every operation of the delivery for each one.
DROP INDEX operations_key_idx;
CREATE INDEX operations_key_idx ON operations (resource_key, receipt_id, delivery_at);

-- The failed operations of a delivery, in order: /summary?status=Failed,
-- errors.csv and the job's error groups read these alone, not the delivery.
CREATE INDEX operations_failed_idx ON operations (receipt_id, delivery_at, seq) WHERE state IN ('validationFailed', 'rejected', 'canceled');

-- +goose Down
DROP INDEX operations_failed_idx;
DROP INDEX operations_key_idx;
CREATE INDEX operations_key_idx ON operations (receipt_id, delivery_at, resource_key);
DROP INDEX deliveries_incomplete_idx;
DROP INDEX deliveries_interrupted_idx;
ALTER TABLE deliveries DROP COLUMN interrupt_reason;
