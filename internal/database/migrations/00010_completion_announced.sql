-- +goose Up
-- The completion that a completed event on IMPORT_EVENTS has announced:
-- the resolver's sweep announces a completion that a crash between the
-- commit and the publication left unannounced. The rows already there
-- count as announced, 'infinity', without writing them: the default is
-- recorded in the catalog, not in the rows, and dropped at once, so new
-- rows start NULL.
ALTER TABLE deliveries ADD COLUMN completion_announced_at timestamptz DEFAULT 'infinity';
ALTER TABLE deliveries ALTER COLUMN completion_announced_at DROP DEFAULT;
CREATE INDEX deliveries_unannounced_idx ON deliveries (completed_at)
    WHERE completed_at IS NOT NULL AND completion_announced_at IS DISTINCT FROM completed_at
        AND completion_announced_at IS DISTINCT FROM 'infinity';

-- +goose Down
DROP INDEX deliveries_unannounced_idx;
ALTER TABLE deliveries DROP COLUMN completion_announced_at;
