-- +goose Up

-- Each catalog row says which record wrote it last: the delivery's
-- acceptance (deliveries.accepted_at), the record's position in it (seq)
-- and its receipt. The store applies a record only when it comes after that
-- (accepted_at, seq), so a record released late, retried or redelivered
-- never overwrites newer data of the same resource (catalog.Store). Null:
-- written before this migration, or by a writer without an order; anything
-- comes after it. Nullable columns without a default: no table is rewritten.
ALTER TABLE catalog_product_types
    ADD COLUMN written_at timestamptz, ADD COLUMN written_seq integer, ADD COLUMN written_receipt text COLLATE "C";
ALTER TABLE catalog_categories
    ADD COLUMN written_at timestamptz, ADD COLUMN written_seq integer, ADD COLUMN written_receipt text COLLATE "C";
ALTER TABLE catalog_tax_categories
    ADD COLUMN written_at timestamptz, ADD COLUMN written_seq integer, ADD COLUMN written_receipt text COLLATE "C";
ALTER TABLE catalog_products
    ADD COLUMN written_at timestamptz, ADD COLUMN written_seq integer, ADD COLUMN written_receipt text COLLATE "C";
ALTER TABLE catalog_variants
    ADD COLUMN written_at timestamptz, ADD COLUMN written_seq integer, ADD COLUMN written_receipt text COLLATE "C";
ALTER TABLE catalog_prices
    ADD COLUMN written_at timestamptz, ADD COLUMN written_seq integer, ADD COLUMN written_receipt text COLLATE "C";
ALTER TABLE catalog_inventory
    ADD COLUMN written_at timestamptz, ADD COLUMN written_seq integer, ADD COLUMN written_receipt text COLLATE "C";

-- +goose Down
ALTER TABLE catalog_inventory
    DROP COLUMN written_at, DROP COLUMN written_seq, DROP COLUMN written_receipt;
ALTER TABLE catalog_prices
    DROP COLUMN written_at, DROP COLUMN written_seq, DROP COLUMN written_receipt;
ALTER TABLE catalog_variants
    DROP COLUMN written_at, DROP COLUMN written_seq, DROP COLUMN written_receipt;
ALTER TABLE catalog_products
    DROP COLUMN written_at, DROP COLUMN written_seq, DROP COLUMN written_receipt;
ALTER TABLE catalog_tax_categories
    DROP COLUMN written_at, DROP COLUMN written_seq, DROP COLUMN written_receipt;
ALTER TABLE catalog_categories
    DROP COLUMN written_at, DROP COLUMN written_seq, DROP COLUMN written_receipt;
ALTER TABLE catalog_product_types
    DROP COLUMN written_at, DROP COLUMN written_seq, DROP COLUMN written_receipt;
