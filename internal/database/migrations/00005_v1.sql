-- +goose Up

-- GET /v1/imports: an operator's list across merchants, newest first, and
-- the lists filtered by the upstream's foreign key.
CREATE INDEX deliveries_accepted_idx ON deliveries (accepted_at DESC, receipt_id);
CREATE INDEX deliveries_foreign_key_idx ON deliveries (foreign_key, accepted_at DESC) WHERE foreign_key IS NOT NULL;

-- +goose Down
DROP INDEX deliveries_foreign_key_idx;
DROP INDEX deliveries_accepted_idx;
