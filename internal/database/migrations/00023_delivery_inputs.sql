-- +goose Up

-- Whether a settled delivery's body is kept in IMPORT_INPUTS for GET
-- /v1/imports/{receiptId}/inputs: NULL while its message and object hold it
-- (or before ingest decides); 'reserved' from when inputs_size counts
-- against the merchant's share until the object is written, then 'kept';
-- else why not: 'over_quota' (the merchant's share is used),
-- 'full' (the bucket is), 'off' (no bucket), 'gone' (the body was lost
-- before it settled), 'failed' (writing it failed pass after pass).
ALTER TABLE deliveries ADD COLUMN inputs_state text, ADD COLUMN inputs_size bigint;

-- A merchant's share in use: the sum of inputs_size over its kept bodies.
CREATE INDEX deliveries_inputs_kept_idx ON deliveries (merchant_id) INCLUDE (inputs_size)
    WHERE inputs_state IN ('reserved', 'kept');

-- +goose Down
DROP INDEX deliveries_inputs_kept_idx;
ALTER TABLE deliveries DROP COLUMN inputs_state, DROP COLUMN inputs_size;
