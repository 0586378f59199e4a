-- +goose Up

-- The key-value pairs an upstream attached to a delivery
-- (Import-Metadata-<Key>), keys lower-cased; NULL for none. GET
-- /v1/imports?metadata[key]=value filters with metadata @> '{"key":
-- "value"}', which the GIN index answers (jsonb_path_ops: containment only,
-- and smaller than the default operator class).
ALTER TABLE deliveries ADD COLUMN metadata jsonb;
CREATE INDEX deliveries_metadata_idx ON deliveries USING gin (metadata jsonb_path_ops);

-- +goose Down
DROP INDEX deliveries_metadata_idx;
ALTER TABLE deliveries DROP COLUMN metadata;
