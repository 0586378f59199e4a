package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/internal/database"
)

// EventOutboxRow is a row of event_outbox: the resource events of one
// importer transaction, as parallel arrays (migrations 00007, 00011).
type EventOutboxRow struct {
	ID            int64 // set by EventOutboxLock
	MerchantID    string
	ResourceTypes []string // the <ResourceType> token of each event's subject
	Events        []string // created, updated
	TypeIDs       []string
	Keys          []string // a sku for variants and inventory
	SKUs          []string // a Product event's variants, space-separated; "" for none (may be empty as a whole)
}

// EventOutboxInsert queues one transaction's resource events.
func EventOutboxInsert(ctx context.Context, db database.DBTX, r EventOutboxRow) error {
	_, err := db.Exec(ctx, `INSERT INTO event_outbox (merchant_id, resource_types, events, type_ids, keys, skus) VALUES ($1, $2, $3, $4, $5, $6)`,
		r.MerchantID, r.ResourceTypes, r.Events, r.TypeIDs, r.Keys, r.SKUs)
	if err != nil {
		return fmt.Errorf("store: event outbox: %w", err)
	}
	return nil
}

// EventOutboxLock locks up to limit rows, oldest first, skipping those
// another transaction holds: several importers publish the outbox.
func EventOutboxLock(ctx context.Context, db database.DBTX, limit int) ([]EventOutboxRow, error) {
	rows, err := db.Query(ctx, `SELECT id, merchant_id, resource_types, events, type_ids, keys, coalesce(skus, '{}') FROM event_outbox
		ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: event outbox: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (EventOutboxRow, error) {
		var r EventOutboxRow
		err := row.Scan(&r.ID, &r.MerchantID, &r.ResourceTypes, &r.Events, &r.TypeIDs, &r.Keys, &r.SKUs)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: event outbox: %w", err)
	}
	return out, nil
}

// EventOutboxDelete deletes the rows with the given ids.
func EventOutboxDelete(ctx context.Context, db database.DBTX, ids []int64) error {
	if _, err := db.Exec(ctx, `DELETE FROM event_outbox WHERE id = any($1)`, ids); err != nil {
		return fmt.Errorf("store: event outbox: %w", err)
	}
	return nil
}
