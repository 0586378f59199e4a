-- +goose Up

-- The catalog the importer writes into by default (catalog.Store): one table
-- per resource type, rows per merchant, upserted by identity. The catalog is
-- kept: unlike tracking data it is neither partitioned nor expired.
--
-- data is the record in canonical form (the contract's fields only, nulls and
-- unknown members dropped, reference typeIds filled in), so that an identical
-- re-import compares equal (jsonb equality) and writes nothing. version
-- counts the writes that changed a row, 1 when created.
--
-- A product's variants are rows of catalog_variants, not part of the
-- product's data: a sku belongs to exactly one product (the primary key
-- answers "which product owns sku X"), whether the variant came embedded in a
-- Product record or as a ProductVariant record.

CREATE TABLE catalog_product_types (
    merchant_id      text        NOT NULL,
    key              text        NOT NULL,
    data             jsonb       NOT NULL,
    version          bigint      NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_modified_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, key)
);

CREATE TABLE catalog_categories (
    merchant_id      text        NOT NULL,
    key              text        NOT NULL,
    parent_key       text,                      -- data.parent.key; not enforced (the resolver orders parents first)
    data             jsonb       NOT NULL,
    version          bigint      NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_modified_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, key)
);
-- The children of a category.
CREATE INDEX catalog_categories_parent_idx ON catalog_categories (merchant_id, parent_key) WHERE parent_key IS NOT NULL;

CREATE TABLE catalog_tax_categories (
    merchant_id      text        NOT NULL,
    key              text        NOT NULL,
    data             jsonb       NOT NULL,
    version          bigint      NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_modified_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, key)
);

CREATE TABLE catalog_products (
    merchant_id      text        NOT NULL,
    key              text        NOT NULL,
    product_type_key text        NOT NULL,
    data             jsonb       NOT NULL,     -- the record without masterVariant and variants
    version          bigint      NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_modified_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, key),
    FOREIGN KEY (merchant_id, product_type_key) REFERENCES catalog_product_types (merchant_id, key)
);
-- The products of a product type (and the foreign key's checks on the type).
CREATE INDEX catalog_products_product_type_idx ON catalog_products (merchant_id, product_type_key);

CREATE TABLE catalog_variants (
    merchant_id      text        NOT NULL,
    sku              text        NOT NULL,
    product_key      text        NOT NULL,     -- the owner; never changes
    is_master        boolean     NOT NULL DEFAULT false,
    position         integer,                  -- order among the product's variants: masterVariant 0, variants[i] i+1; null (last, by sku) for a variant no Product record placed
    data             jsonb       NOT NULL,     -- {sku, key, attributes, prices, images}
    version          bigint      NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_modified_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, sku),
    FOREIGN KEY (merchant_id, product_key) REFERENCES catalog_products (merchant_id, key)
);
-- The variants of a product, in order.
CREATE INDEX catalog_variants_product_idx ON catalog_variants (merchant_id, product_key, position);
-- At most one master variant per product.
CREATE UNIQUE INDEX catalog_variants_master_idx ON catalog_variants (merchant_id, product_key) WHERE is_master;

CREATE TABLE catalog_prices (
    merchant_id      text        NOT NULL,
    key              text        NOT NULL,
    sku              text        NOT NULL,
    data             jsonb       NOT NULL,
    version          bigint      NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_modified_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, key),
    FOREIGN KEY (merchant_id, sku) REFERENCES catalog_variants (merchant_id, sku)
);
-- The prices of a variant (and the foreign key's checks on the variant).
CREATE INDEX catalog_prices_sku_idx ON catalog_prices (merchant_id, sku);

-- Inventory is kept by sku and needs no variant (as in commercetools): the
-- resolver waits for the variant, the catalog does not insist on it.
CREATE TABLE catalog_inventory (
    merchant_id       text        NOT NULL,
    sku               text        NOT NULL,
    quantity_on_stock bigint      NOT NULL,
    data              jsonb       NOT NULL,
    version           bigint      NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_modified_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, sku)
);

-- +goose Down
DROP TABLE catalog_inventory;
DROP TABLE catalog_prices;
DROP TABLE catalog_variants;
DROP TABLE catalog_products;
DROP TABLE catalog_tax_categories;
DROP TABLE catalog_categories;
DROP TABLE catalog_product_types;
