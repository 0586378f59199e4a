-- +goose Up
-- The completion that a completed event on IMPORT_EVENTS has announced:
-- the resolver's sweep announces a completion that a crash between the
-- commit and the publication left unannounced.
ALTER TABLE deliveries ADD COLUMN completion_announced_at timestamptz;
UPDATE deliveries SET completion_announced_at = completed_at WHERE completed_at IS NOT NULL;
CREATE INDEX deliveries_unannounced_idx ON deliveries (completed_at)
    WHERE completed_at IS NOT NULL AND completion_announced_at IS DISTINCT FROM completed_at;

-- +goose Down
DROP INDEX deliveries_unannounced_idx;
ALTER TABLE deliveries DROP COLUMN completion_announced_at;
