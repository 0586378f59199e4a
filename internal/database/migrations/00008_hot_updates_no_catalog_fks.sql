-- +goose Up

-- Import updates stay HOT. The index of failed operations had state in its
-- predicate, and PostgreSQL makes an update that changes a column an index
-- uses (its predicate included) write a new entry in every index: each
-- operation going from processing to imported cost three index insertions.
-- The predicate is now a generated column, which changes only when an
-- operation fails. Queries of failed operations say "failed" to use it.
ALTER TABLE operations ADD COLUMN failed boolean
    GENERATED ALWAYS AS (state IN ('validationFailed', 'rejected', 'canceled')) STORED;
DROP INDEX operations_failed_idx;
CREATE INDEX operations_failed_idx ON operations (receipt_id, delivery_at, seq) WHERE failed;

-- The catalog's foreign keys go: the store checks each reference before it
-- writes (a product's type, a variant's product, a price's variant; see
-- catalog.Store), nothing deletes catalog rows, and importd audit checks
-- them. Each check is a query per row, and every product locks its product
-- type's row (FOR KEY SHARE): much of the time of writing a variant
-- (docs/performance.md).
ALTER TABLE catalog_products DROP CONSTRAINT catalog_products_merchant_id_product_type_key_fkey;
ALTER TABLE catalog_variants DROP CONSTRAINT catalog_variants_merchant_id_product_key_fkey;
ALTER TABLE catalog_prices DROP CONSTRAINT catalog_prices_merchant_id_sku_fkey;

-- +goose Down
-- NOT VALID: rows written meanwhile are not checked again.
ALTER TABLE catalog_prices ADD CONSTRAINT catalog_prices_merchant_id_sku_fkey
    FOREIGN KEY (merchant_id, sku) REFERENCES catalog_variants (merchant_id, sku) NOT VALID;
ALTER TABLE catalog_variants ADD CONSTRAINT catalog_variants_merchant_id_product_key_fkey
    FOREIGN KEY (merchant_id, product_key) REFERENCES catalog_products (merchant_id, key) NOT VALID;
ALTER TABLE catalog_products ADD CONSTRAINT catalog_products_merchant_id_product_type_key_fkey
    FOREIGN KEY (merchant_id, product_type_key) REFERENCES catalog_product_types (merchant_id, key) NOT VALID;
DROP INDEX operations_failed_idx;
CREATE INDEX operations_failed_idx ON operations (receipt_id, delivery_at, seq) WHERE state IN ('validationFailed', 'rejected', 'canceled');
ALTER TABLE operations DROP COLUMN failed;
