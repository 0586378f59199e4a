-- +goose Up

-- One outbox row per importer transaction, its resource events as parallel
-- arrays: a row per event costs an insert, a locking read and a delete for
-- every product and variant imported (docs/performance.md). Rows waiting at
-- the upgrade become batches of one.
ALTER TABLE event_outbox RENAME COLUMN resource_type TO resource_types;
ALTER TABLE event_outbox RENAME COLUMN event TO events;
ALTER TABLE event_outbox RENAME COLUMN type_id TO type_ids;
ALTER TABLE event_outbox RENAME COLUMN key TO keys;
ALTER TABLE event_outbox
    ALTER COLUMN resource_types TYPE text[] USING ARRAY[resource_types],
    ALTER COLUMN events TYPE text[] USING ARRAY[events],
    ALTER COLUMN type_ids TYPE text[] USING ARRAY[type_ids],
    ALTER COLUMN keys TYPE text[] USING ARRAY[keys];

-- +goose Down
CREATE TEMP TABLE event_outbox_rows AS
    SELECT o.id, e.n, o.merchant_id, e.resource_type, e.event, e.type_id, e.key, o.created_at
    FROM event_outbox o, unnest(o.resource_types, o.events, o.type_ids, o.keys) WITH ORDINALITY AS e(resource_type, event, type_id, key, n);
DELETE FROM event_outbox;
ALTER TABLE event_outbox
    ALTER COLUMN resource_types TYPE text USING resource_types[1],
    ALTER COLUMN events TYPE text USING events[1],
    ALTER COLUMN type_ids TYPE text USING type_ids[1],
    ALTER COLUMN keys TYPE text USING keys[1];
ALTER TABLE event_outbox RENAME COLUMN resource_types TO resource_type;
ALTER TABLE event_outbox RENAME COLUMN events TO event;
ALTER TABLE event_outbox RENAME COLUMN type_ids TO type_id;
ALTER TABLE event_outbox RENAME COLUMN keys TO key;
INSERT INTO event_outbox (merchant_id, resource_type, event, type_id, key, created_at)
    SELECT merchant_id, resource_type, event, type_id, key, created_at FROM event_outbox_rows ORDER BY id, n;
DROP TABLE event_outbox_rows;
