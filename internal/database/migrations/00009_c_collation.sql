-- +goose Up

-- Identities (receipts, merchants, keys, skus, resource types) compare as
-- bytes: COLLATE "C" on every text column an index holds. Under the
-- database's collation (C.UTF-8 here, often en_US.UTF-8) every comparison in
-- a B-tree goes through strcoll (docs/performance.md). The order is the same
-- for these values: they are ASCII
-- (keys match ^[A-Za-z0-9_-]+$), and C.UTF-8 sorts by code point. The
-- columns keep their type, so no table is rewritten; their indexes are
-- rebuilt.
ALTER TABLE deliveries
    ALTER COLUMN receipt_id TYPE text COLLATE "C",
    ALTER COLUMN merchant_id TYPE text COLLATE "C",
    ALTER COLUMN foreign_key TYPE text COLLATE "C";
ALTER TABLE delivery_counts
    ALTER COLUMN receipt_id TYPE text COLLATE "C";
ALTER TABLE operations
    ALTER COLUMN receipt_id TYPE text COLLATE "C",
    ALTER COLUMN resource_key TYPE text COLLATE "C";
ALTER TABLE tracking_events
    ALTER COLUMN receipt_id TYPE text COLLATE "C",
    ALTER COLUMN product_id TYPE text COLLATE "C";
ALTER TABLE known_keys
    ALTER COLUMN merchant_id TYPE text COLLATE "C",
    ALTER COLUMN type_id TYPE text COLLATE "C",
    ALTER COLUMN key TYPE text COLLATE "C";
ALTER TABLE parked_refs
    ALTER COLUMN merchant_id TYPE text COLLATE "C",
    ALTER COLUMN type_id TYPE text COLLATE "C",
    ALTER COLUMN key TYPE text COLLATE "C",
    ALTER COLUMN receipt_id TYPE text COLLATE "C",
    ALTER COLUMN op_type TYPE text COLLATE "C",
    ALTER COLUMN op_key TYPE text COLLATE "C";
ALTER TABLE catalog_product_types
    ALTER COLUMN merchant_id TYPE text COLLATE "C",
    ALTER COLUMN key TYPE text COLLATE "C";
ALTER TABLE catalog_categories
    ALTER COLUMN merchant_id TYPE text COLLATE "C",
    ALTER COLUMN key TYPE text COLLATE "C",
    ALTER COLUMN parent_key TYPE text COLLATE "C";
ALTER TABLE catalog_tax_categories
    ALTER COLUMN merchant_id TYPE text COLLATE "C",
    ALTER COLUMN key TYPE text COLLATE "C";
ALTER TABLE catalog_products
    ALTER COLUMN merchant_id TYPE text COLLATE "C",
    ALTER COLUMN key TYPE text COLLATE "C",
    ALTER COLUMN product_type_key TYPE text COLLATE "C";
ALTER TABLE catalog_variants
    ALTER COLUMN merchant_id TYPE text COLLATE "C",
    ALTER COLUMN sku TYPE text COLLATE "C",
    ALTER COLUMN product_key TYPE text COLLATE "C";
ALTER TABLE catalog_prices
    ALTER COLUMN merchant_id TYPE text COLLATE "C",
    ALTER COLUMN key TYPE text COLLATE "C",
    ALTER COLUMN sku TYPE text COLLATE "C";
ALTER TABLE catalog_inventory
    ALTER COLUMN merchant_id TYPE text COLLATE "C",
    ALTER COLUMN sku TYPE text COLLATE "C";

-- +goose Down
ALTER TABLE deliveries
    ALTER COLUMN receipt_id TYPE text COLLATE "default",
    ALTER COLUMN merchant_id TYPE text COLLATE "default",
    ALTER COLUMN foreign_key TYPE text COLLATE "default";
ALTER TABLE delivery_counts
    ALTER COLUMN receipt_id TYPE text COLLATE "default";
ALTER TABLE operations
    ALTER COLUMN receipt_id TYPE text COLLATE "default",
    ALTER COLUMN resource_key TYPE text COLLATE "default";
ALTER TABLE tracking_events
    ALTER COLUMN receipt_id TYPE text COLLATE "default",
    ALTER COLUMN product_id TYPE text COLLATE "default";
ALTER TABLE known_keys
    ALTER COLUMN merchant_id TYPE text COLLATE "default",
    ALTER COLUMN type_id TYPE text COLLATE "default",
    ALTER COLUMN key TYPE text COLLATE "default";
ALTER TABLE parked_refs
    ALTER COLUMN merchant_id TYPE text COLLATE "default",
    ALTER COLUMN type_id TYPE text COLLATE "default",
    ALTER COLUMN key TYPE text COLLATE "default",
    ALTER COLUMN receipt_id TYPE text COLLATE "default",
    ALTER COLUMN op_type TYPE text COLLATE "default",
    ALTER COLUMN op_key TYPE text COLLATE "default";
ALTER TABLE catalog_product_types
    ALTER COLUMN merchant_id TYPE text COLLATE "default",
    ALTER COLUMN key TYPE text COLLATE "default";
ALTER TABLE catalog_categories
    ALTER COLUMN merchant_id TYPE text COLLATE "default",
    ALTER COLUMN key TYPE text COLLATE "default",
    ALTER COLUMN parent_key TYPE text COLLATE "default";
ALTER TABLE catalog_tax_categories
    ALTER COLUMN merchant_id TYPE text COLLATE "default",
    ALTER COLUMN key TYPE text COLLATE "default";
ALTER TABLE catalog_products
    ALTER COLUMN merchant_id TYPE text COLLATE "default",
    ALTER COLUMN key TYPE text COLLATE "default",
    ALTER COLUMN product_type_key TYPE text COLLATE "default";
ALTER TABLE catalog_variants
    ALTER COLUMN merchant_id TYPE text COLLATE "default",
    ALTER COLUMN sku TYPE text COLLATE "default",
    ALTER COLUMN product_key TYPE text COLLATE "default";
ALTER TABLE catalog_prices
    ALTER COLUMN merchant_id TYPE text COLLATE "default",
    ALTER COLUMN key TYPE text COLLATE "default",
    ALTER COLUMN sku TYPE text COLLATE "default";
ALTER TABLE catalog_inventory
    ALTER COLUMN merchant_id TYPE text COLLATE "default",
    ALTER COLUMN sku TYPE text COLLATE "default";
