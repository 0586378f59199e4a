-- +goose Up

-- Resource events to publish on CATALOG_EVENTS, written in the transaction
-- that records the import and deleted once JetStream has them: an importer
-- killed between its commit and the publication loses no event.
CREATE TABLE event_outbox (
    id            bigserial   PRIMARY KEY,
    merchant_id   text        NOT NULL,
    resource_type text        NOT NULL,  -- the subject token: Category, Product, ProductVariant, …
    event         text        NOT NULL,  -- created | updated
    type_id       text        NOT NULL,
    key           text        NOT NULL,  -- key, or sku for variants and inventory entries
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE event_outbox;
