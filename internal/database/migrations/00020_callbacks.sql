-- +goose Up

-- The URL a delivery asked to be called at when it ends
-- (Import-Callback-Url), checked against IMPORTD_CALLBACK_HOSTS at ingest.
ALTER TABLE deliveries ADD COLUMN callback_url text;

-- The callbacks to send: one row per end of a delivery (completed, failed,
-- interrupted, expired), written in the transaction that ends it, so that
-- none is lost to a crash. The body is the delivery's /status as it was
-- then: an expired delivery's rows are gone by the time it is sent. Not
-- partitioned with the deliveries: a callback outlives its delivery's
-- partition by up to a day of retries.
CREATE TABLE callbacks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id     text NOT NULL,
    receipt_id      text COLLATE "C" NOT NULL,
    delivery_at     timestamptz NOT NULL,
    event           text NOT NULL,
    url             text NOT NULL,
    body            bytea NOT NULL,
    created_at      timestamptz NOT NULL,
    next_at         timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    last_attempt_at timestamptz,
    last_status     integer,
    last_error      text,
    delivered_at    timestamptz,
    given_up_at     timestamptz
);

-- The sender's claim: due callbacks not yet ended, soonest first.
CREATE INDEX callbacks_due_idx ON callbacks (next_at) WHERE delivered_at IS NULL AND given_up_at IS NULL;
-- The job object's: a delivery's latest callback.
CREATE INDEX callbacks_delivery_idx ON callbacks (receipt_id, delivery_at, id);

-- +goose Down
DROP TABLE callbacks;
ALTER TABLE deliveries DROP COLUMN callback_url;
