-- +goose Up

-- A delivery is identified by (merchant, receipt): two merchants may use
-- the same receipt. Lookups name both, or the receipt alone for an operator
-- (several merchants are then listed in merchant order): one index serves
-- both, one probe whatever the number of merchants sharing a receipt.
--
-- The primary key stays (receipt_id, accepted_at), the identity every table
-- of a delivery's rows uses (delivery_at): DeliveryBegin keeps it unique
-- across merchants by moving a second merchant's accepted_at on by a
-- microsecond when it would collide. (merchant, receipt) cannot be a unique
-- constraint of a table partitioned by accepted_at, so DeliveryBegin
-- enforces it under an advisory lock on the receipt.
CREATE INDEX deliveries_receipt_merchant_idx ON deliveries (receipt_id, merchant_id);

-- +goose Down
DROP INDEX deliveries_receipt_merchant_idx;
