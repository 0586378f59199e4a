-- +goose Up

-- Nothing looks products up by product type since the catalog's foreign
-- keys went (migration 00008): the index only cost every product insert an
-- entry. The audit finds a product's type by probing catalog_product_types.
DROP INDEX catalog_products_product_type_idx;

-- +goose Down
CREATE INDEX catalog_products_product_type_idx ON catalog_products (merchant_id, product_type_key);
