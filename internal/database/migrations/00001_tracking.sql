-- +goose Up

-- Every table that grows with the traffic is partitioned by the time its
-- delivery was accepted (deliveries.accepted_at, copied into every row of the
-- delivery as delivery_at), so a delivery, its operations and its events live
-- in the same partition and retention drops them together with DROP TABLE.
-- Partitions are created ahead of time by tracking.Partitions; partition_ranges
-- records the ranges so that the set of partitions never overlaps.

CREATE TABLE partition_ranges (
    lower timestamptz PRIMARY KEY,
    upper timestamptz NOT NULL,
    suffix text NOT NULL UNIQUE,
    CHECK (upper > lower)
);

CREATE TABLE deliveries (
    receipt_id        text        NOT NULL,
    accepted_at       timestamptz NOT NULL,
    merchant_id       text        NOT NULL,
    data              text        NOT NULL,
    format            text        NOT NULL,
    contract_version  text        NOT NULL,
    foreign_key       text,
    skip_errors       boolean     NOT NULL DEFAULT false,
    object_name       text,
    content_encoding  text,
    source            text        NOT NULL,            -- the JetStream message that carries it: "<stream>:<sequence>"
    ingest_state      text        NOT NULL,            -- receiving | done | failed
    ingestion_errors  jsonb,
    records_read      integer     NOT NULL DEFAULT 0,  -- checkpoint: records stored so far
    published_through integer     NOT NULL DEFAULT 0,  -- records whose work messages JetStream has acknowledged
    bytes_read        bigint      NOT NULL DEFAULT 0,
    ingested_at       timestamptz,
    completed_at      timestamptz,
    interrupted_at    timestamptz,
    expires_at        timestamptz NOT NULL,
    PRIMARY KEY (receipt_id, accepted_at)
) PARTITION BY RANGE (accepted_at);
CREATE INDEX deliveries_merchant_idx ON deliveries (merchant_id, accepted_at DESC);

-- Operation counts per delivery, kept as deltas in a few slots per delivery so
-- that concurrent workers do not queue on one row; a read sums at most
-- a handful of rows.
CREATE TABLE delivery_counts (
    receipt_id        text        NOT NULL,
    delivery_at       timestamptz NOT NULL,
    slot              smallint    NOT NULL,
    total             bigint      NOT NULL DEFAULT 0,
    queued            bigint      NOT NULL DEFAULT 0,
    processing        bigint      NOT NULL DEFAULT 0,
    unresolved        bigint      NOT NULL DEFAULT 0,
    waiting           bigint      NOT NULL DEFAULT 0,
    imported          bigint      NOT NULL DEFAULT 0,
    partially         bigint      NOT NULL DEFAULT 0,
    validation_failed bigint      NOT NULL DEFAULT 0,
    rejected          bigint      NOT NULL DEFAULT 0,
    canceled          bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (receipt_id, slot, delivery_at)
) PARTITION BY RANGE (delivery_at);

CREATE TABLE operations (
    id                 uuid        NOT NULL,
    delivery_at        timestamptz NOT NULL,
    receipt_id         text        NOT NULL,
    merchant_id        text        NOT NULL,
    seq                integer     NOT NULL,  -- position of the record in the delivery
    line               integer     NOT NULL,  -- line of the body where the record starts
    resource_type      text        NOT NULL,
    resource_key       text        NOT NULL,  -- key or sku; "line:N" when the record has no usable identity
    state              text        NOT NULL,
    stage              smallint    NOT NULL,  -- 0 queued for the resolver, 1 picked up
    errors             jsonb,
    warnings           jsonb,
    unresolved         jsonb,
    retry_count        integer     NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL,
    last_modified_at   timestamptz NOT NULL,
    expires_at         timestamptz NOT NULL,
    last_tracking_id   uuid        NOT NULL,  -- the latest tracking event, for the summary
    last_tracking_code integer     NOT NULL,
    last_message       text        NOT NULL,
    PRIMARY KEY (receipt_id, seq, delivery_at)
) PARTITION BY RANGE (delivery_at);
CREATE INDEX operations_key_idx ON operations (receipt_id, delivery_at, resource_key);
CREATE INDEX operations_id_idx ON operations (id);

-- Tracking events are append-only. tracking_id is a UUIDv7 made by the writer,
-- unique by construction; it is not indexed, to keep appends cheap.
CREATE TABLE tracking_events (
    delivery_at timestamptz NOT NULL,
    tracking_id uuid        NOT NULL,
    ts          timestamptz NOT NULL,
    code        integer     NOT NULL,
    receipt_id  text        NOT NULL,
    merchant_id text        NOT NULL,
    product_id  text,
    channel_id  text,
    message     text        NOT NULL,
    debug       text
) PARTITION BY RANGE (delivery_at);
CREATE INDEX tracking_events_product_idx ON tracking_events (receipt_id, product_id, ts);

-- +goose Down
DROP TABLE tracking_events;
DROP TABLE operations;
DROP TABLE delivery_counts;
DROP TABLE deliveries;
DROP TABLE partition_ranges;
