// Package store is importd's PostgreSQL storage layer: it opens the
// workers' transactions (InTx) and, table by table, owns the statements
// that read and write them, as functions named table-then-verb
// (ParkedRefsInsert, ApplyOutboxDelete) on a database.DBTX. It speaks in
// rows and plain values, not in the pipeline's types, so every package can
// use it and it depends on none of them.
//
// It owns every table and every statement of importd (the migrations stay
// in internal/database): deliveries, delivery_counts, operations,
// tracking_events, partition_ranges and the time partitions of these
// (partitions.go), parked_refs, apply_outbox, event_outbox, known_keys (the
// registry) and the PostgreSQL catalog's tables (catalog_*.go), plus the
// audit's read-only checks across them (audit.go). No other package holds
// SQL text.
//
// # Lock order
//
// A writer that changes a delivery's counts and locks its row takes a
// counter slot first (DeliveryCountsAdd), then the row (DeliveriesLock);
// deliveries in receipt order. LockDelivery takes both in that order. A
// transaction of InTx that asks for a delivery's counter slot after its
// row gets ErrLockOrder instead of a possible deadlock with a writer that
// follows the order.
package store
