-- +goose Up

-- What exists in the catalog, per merchant: written by the importer in the
-- transaction that writes the resource, and by the resolver for resources
-- other systems announce on CATALOG_EVENTS. A row with exists = false is a
-- key somebody waits for: parking locks it FOR SHARE and creation upserts
-- it, so parking and creation of the same key are serialised and an
-- operation can never be parked on a key created at the same moment.
CREATE TABLE known_keys (
    merchant_id text        NOT NULL,
    type_id     text        NOT NULL,
    key         text        NOT NULL,
    exists      boolean     NOT NULL DEFAULT false,
    created_at  timestamptz,
    source      text,
    PRIMARY KEY (merchant_id, type_id, key)
);

-- The missing references of parked operations, one row each; the operation
-- waits until it has none left. op_type/op_key are the parked operation's
-- own resource type and identity (for cycles and master-variant pairing).
CREATE TABLE parked_refs (
    merchant_id text        NOT NULL,
    type_id     text        NOT NULL,
    key         text        NOT NULL,
    receipt_id  text        NOT NULL,
    seq         integer     NOT NULL,
    delivery_at timestamptz NOT NULL,
    op_type     text        NOT NULL,
    op_key      text        NOT NULL,
    parked_at   timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, type_id, key, receipt_id, seq, delivery_at)
) PARTITION BY RANGE (delivery_at);
CREATE INDEX parked_refs_op_idx ON parked_refs (receipt_id, delivery_at, seq);
CREATE INDEX parked_refs_owner_idx ON parked_refs (merchant_id, op_type, op_key);

-- +goose StatementBegin
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT * FROM partition_ranges LOOP
        EXECUTE format('CREATE TABLE parked_refs_p%s PARTITION OF parked_refs FOR VALUES FROM (%L) TO (%L)', r.suffix, r.lower, r.upper);
    END LOOP;
END $$;
-- +goose StatementEnd

-- A parked operation keeps its record until it is imported.
ALTER TABLE operations ADD COLUMN record bytea;
-- When the first operation of the delivery was picked up.
ALTER TABLE deliveries ADD COLUMN processing_at timestamptz;

-- Operations released from parking, to be published to the importer. Rows
-- are written in the transaction that releases the operation and deleted
-- once JetStream has the message: a crash in between loses nothing.
CREATE TABLE apply_outbox (
    id          bigserial   PRIMARY KEY,
    merchant_id text        NOT NULL,
    receipt_id  text        NOT NULL,
    seq         integer     NOT NULL,
    delivery_at timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE apply_outbox;
ALTER TABLE deliveries DROP COLUMN processing_at;
ALTER TABLE operations DROP COLUMN record;
DROP TABLE parked_refs;
DROP TABLE known_keys;
