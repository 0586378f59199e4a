-- +goose Up

-- When a delivery's message and object left JetStream: once its operations
-- were all ended or parked (parked records are stored, so nothing reads the
-- body again) or it completed (tracking.DeliveriesSettled). The message then
-- no longer counts towards its merchant's bound of deliveries in
-- IMPORT_DELIVERIES. The index holds the deliveries not removed yet: those
-- in flight and those settled since ingest's last pass.
ALTER TABLE deliveries ADD COLUMN message_removed_at timestamptz;
CREATE INDEX deliveries_held_idx ON deliveries (accepted_at, receipt_id) WHERE message_removed_at IS NULL;

-- +goose Down
DROP INDEX deliveries_held_idx;
ALTER TABLE deliveries DROP COLUMN message_removed_at;
