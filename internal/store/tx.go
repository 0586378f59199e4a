package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Tx is a transaction of InTx. It is a pgx.Tx with a queue of effects to
// run once it has committed: InTx runs them only then, so an effect
// (announcing a completed delivery, waking an outbox) can never see, or
// announce, what is not committed yet.
type Tx struct {
	pgx.Tx
	after []func()
}

// AfterCommit queues fn to run after the transaction commits; it does not
// run when the transaction rolls back. An effect that reads what the
// transaction wrote on another connection, or wakes a reader of it, belongs
// here: run inside the transaction, it would find the writes missing.
func (tx *Tx) AfterCommit(fn func()) { tx.after = append(tx.after, fn) }

// InTx runs fn in a transaction on pool, with the planner told to probe
// by key (ProbeByKey), and commits it when fn returns nil (rolls it back
// otherwise), then runs the effects fn queued, in order.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(tx *Tx) error) error {
	tx := &Tx{}
	err := pgx.BeginFunc(ctx, pool, func(ptx pgx.Tx) error {
		tx.Tx = ptx
		if err := ProbeByKey(ctx, ptx); err != nil {
			return err
		}
		return fn(tx)
	})
	if err != nil {
		return err
	}
	for _, f := range tx.after {
		f()
	}
	return nil
}
