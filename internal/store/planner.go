package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ProbeByKey tells the planner, for the rest of the transaction, to find
// rows by index, one probe per key, and never to scan or hash a table.
// Workers' transactions touch a few hundred rows of tables of millions, by
// key; but a partition analysed while it was nearly empty makes the planner
// believe a scan of it is cheap, and a batch then costs seconds instead of
// milliseconds. InTx applies it to every transaction it opens.
func ProbeByKey(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; SET LOCAL enable_material = off")
	if err != nil {
		return fmt.Errorf("store: planner settings: %w", err)
	}
	return nil
}

// SetPlanner sets one planner setting for the rest of the transaction and
// returns the function that puts it back as it was: for the one statement
// that needs it.
func SetPlanner(ctx context.Context, tx pgx.Tx, name, value string) (restore func() error, err error) {
	var old string
	if err := tx.QueryRow(ctx, `SELECT current_setting($1), set_config($1, $2, true)`, name, value).Scan(&old, nil); err != nil {
		return nil, fmt.Errorf("store: planner setting %s: %w", name, err)
	}
	return func() error {
		if _, err := tx.Exec(ctx, `SELECT set_config($1, $2, true)`, name, old); err != nil {
			return fmt.Errorf("store: planner setting %s: %w", name, err)
		}
		return nil
	}, nil
}

// SetStatementTimeout bounds each statement of the rest of the
// transaction, the server canceling one that runs longer.
func SetStatementTimeout(ctx context.Context, tx pgx.Tx, d time.Duration) error {
	if _, err := tx.Exec(ctx, `SELECT set_config('statement_timeout', $1, true)`, fmt.Sprintf("%dms", d.Milliseconds())); err != nil {
		return fmt.Errorf("store: statement timeout: %w", err)
	}
	return nil
}
