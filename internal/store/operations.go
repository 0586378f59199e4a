package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/internal/database"
)

// OperationRecord is an operation's resource and the record it keeps.
type OperationRecord struct {
	Seq          int
	ResourceType string
	ResourceKey  string
	Record       []byte
}

// OperationsRecordsAt returns, in position order, the operations of the
// delivery at seqs that are processing at the given stage and keep their
// record.
func OperationsRecordsAt(ctx context.Context, db database.DBTX, receipt string, at time.Time, seqs []int, stage int16) ([]OperationRecord, error) {
	rows, err := db.Query(ctx, `SELECT seq, resource_type, resource_key, record FROM operations
		WHERE receipt_id = $1 AND delivery_at = $2 AND seq = any($3) AND state = 'processing' AND stage = $4 AND record IS NOT NULL
		ORDER BY seq`, receipt, at, seqs, stage)
	if err != nil {
		return nil, fmt.Errorf("store: operations' records: %w", err)
	}
	var out []OperationRecord
	var r OperationRecord
	_, err = pgx.ForEachRow(rows, []any{&r.Seq, &r.ResourceType, &r.ResourceKey, &r.Record}, func() error {
		r.Record = append([]byte(nil), r.Record...)
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: operations' records: %w", err)
	}
	return out, nil
}
