-- +goose Up

-- Deliveries still open (neither completed nor interrupted), oldest first:
-- the re-drive scan (tracking.RedriveClaim) looks for stalled operations in
-- these only. Its columns are already in other indexes of deliveries, so it
-- costs no update its HOT path; operations get no index for the scan, as
-- any index on their state or last_modified_at would cost every
-- transition of every operation its HOT update (see 00008).
CREATE INDEX deliveries_open_idx ON deliveries (accepted_at, receipt_id) WHERE completed_at IS NULL AND interrupted_at IS NULL;

-- +goose Down
DROP INDEX deliveries_open_idx;
