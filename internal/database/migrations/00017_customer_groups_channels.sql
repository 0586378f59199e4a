-- +goose Up

-- Customer groups and channels, the resources a price's customerGroup and
-- channel and an inventory entry's supplyChannel refer to (catalog.Store),
-- kept like the other catalog tables: data in canonical form, a version,
-- and the order of the record that wrote the row last (migration 00014).
CREATE TABLE catalog_customer_groups (
    merchant_id      text COLLATE "C" NOT NULL,
    key              text COLLATE "C" NOT NULL,
    data             jsonb       NOT NULL,
    version          bigint      NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_modified_at timestamptz NOT NULL DEFAULT now(),
    written_at       timestamptz,
    written_seq      integer,
    written_receipt  text COLLATE "C",
    PRIMARY KEY (merchant_id, key)
);

CREATE TABLE catalog_channels (
    merchant_id      text COLLATE "C" NOT NULL,
    key              text COLLATE "C" NOT NULL,
    data             jsonb       NOT NULL,
    version          bigint      NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_modified_at timestamptz NOT NULL DEFAULT now(),
    written_at       timestamptz,
    written_seq      integer,
    written_receipt  text COLLATE "C",
    PRIMARY KEY (merchant_id, key)
);

-- +goose Down
DROP TABLE catalog_channels;
DROP TABLE catalog_customer_groups;
