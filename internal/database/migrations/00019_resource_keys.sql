-- +goose Up

-- The resources that exist, for the resolver's lookups: those the registry
-- (known_keys) knows, which other systems announced, and those the catalog
-- holds, which the importer wrote. The importer no longer records what it
-- writes in known_keys a second time: an upserted row for every resource,
-- in the same transaction as the catalog rows that say as much.
-- A lookup names the type: of the branches below, only the one of that
-- type probes its table (its primary key).
CREATE VIEW resource_keys AS
    SELECT merchant_id, type_id, key, created_at FROM known_keys WHERE exists
    UNION ALL SELECT merchant_id, 'product-type', key, created_at FROM catalog_product_types
    UNION ALL SELECT merchant_id, 'category', key, created_at FROM catalog_categories
    UNION ALL SELECT merchant_id, 'tax-category', key, created_at FROM catalog_tax_categories
    UNION ALL SELECT merchant_id, 'customer-group', key, created_at FROM catalog_customer_groups
    UNION ALL SELECT merchant_id, 'channel', key, created_at FROM catalog_channels
    UNION ALL SELECT merchant_id, 'product', key, created_at FROM catalog_products
    UNION ALL SELECT merchant_id, 'product-variant', sku, created_at FROM catalog_variants
    UNION ALL SELECT merchant_id, 'price', key, created_at FROM catalog_prices
    UNION ALL SELECT merchant_id, 'inventory-entry', sku, created_at FROM catalog_inventory;

-- +goose Down
-- The importd of before looks in the registry alone: it gets a row for each
-- resource the importer wrote meanwhile.
INSERT INTO known_keys (merchant_id, type_id, key, exists, created_at, source)
    SELECT merchant_id, type_id, key, true, created_at, 'importer' FROM resource_keys
    ON CONFLICT (merchant_id, type_id, key) DO UPDATE SET exists = true, created_at = excluded.created_at, source = excluded.source
    WHERE NOT known_keys.exists;
DROP VIEW resource_keys;
