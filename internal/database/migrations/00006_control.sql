-- +goose Up
-- Cancel, the error threshold and retry (issue 5).
ALTER TABLE deliveries ADD COLUMN interrupt_reason text;
-- Deliveries interrupted whose remaining operations are still to be canceled.
CREATE INDEX deliveries_interrupted_idx ON deliveries (interrupted_at) WHERE interrupted_at IS NOT NULL AND completed_at IS NULL;
-- Deliveries read to the end and not completed: the sweep completes those
-- whose last operations ended in concurrent transactions.
CREATE INDEX deliveries_incomplete_idx ON deliveries (accepted_at) WHERE ingest_state = 'done' AND completed_at IS NULL;

-- +goose Down
DROP INDEX deliveries_incomplete_idx;
DROP INDEX deliveries_interrupted_idx;
ALTER TABLE deliveries DROP COLUMN interrupt_reason;
