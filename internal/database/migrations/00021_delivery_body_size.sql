-- +goose Up

-- How much of a delivery's body ingest has read, in the unit its size is
-- known in: the bytes of the message or the object as stored (compressed
-- when Import-Content-Encoding is gzip). bytes_read counts the decoded
-- bytes, so a gzip body's progress cannot be measured against its size
-- with it. body_size is null until ingest opens the body.
ALTER TABLE deliveries ADD COLUMN body_size bigint, ADD COLUMN body_read bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE deliveries DROP COLUMN body_size, DROP COLUMN body_read;
