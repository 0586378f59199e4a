-- +goose Up

-- The events of a record are found by (receipt, product) alone. A record's
-- four or more events then have equal keys, which B-tree deduplication
-- keeps as one entry; with ts in the key every entry was distinct, and each
-- new event of a record split a page in the middle of the index
-- (docs/performance.md). A record's history sorts its handful of events.
DROP INDEX tracking_events_product_idx;
CREATE INDEX tracking_events_product_idx ON tracking_events (receipt_id, product_id);

-- +goose Down
DROP INDEX tracking_events_product_idx;
CREATE INDEX tracking_events_product_idx ON tracking_events (receipt_id, product_id, ts);
