-- +goose Up

-- When a delivery's message (and object) left JetStream before the
-- delivery completed: its operations were all ended or parked, and parked
-- records are stored, so nothing reads the body again
-- (tracking.DeliveriesSettled). The message then no longer counts towards
-- its merchant's bound of deliveries in IMPORT_DELIVERIES.
ALTER TABLE deliveries ADD COLUMN message_removed_at timestamptz;

-- +goose Down
ALTER TABLE deliveries DROP COLUMN message_removed_at;
