-- +goose Up

-- How much of a delivery's body ingest has read, in the unit its size is
-- known in: the bytes of the message or the object as stored (compressed
-- when Import-Content-Encoding is gzip). bytes_read counts the decoded
-- bytes, so a gzip body's progress cannot be measured against its size
-- with it. body_size is null until ingest opens the body.
ALTER TABLE deliveries ADD COLUMN body_size bigint, ADD COLUMN body_read bigint NOT NULL DEFAULT 0;

-- The operations with warnings, for a job's warnings grouped by code and
-- warnings.csv, as operations_failed_idx serves its errors: few in most
-- deliveries, and the job object is read often. Queries of them say
-- "warnings IS NOT NULL" to use it (the planner estimates that one from
-- the column's null fraction). Only the updates that give an operation
-- warnings change the predicate's column; the others stay HOT.
CREATE INDEX operations_warned_idx ON operations (receipt_id, delivery_at, seq) WHERE warnings IS NOT NULL;

-- +goose Down
DROP INDEX operations_warned_idx;
ALTER TABLE deliveries DROP COLUMN body_size, DROP COLUMN body_read;
