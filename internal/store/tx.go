package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Tx is a transaction of InTx. It is a pgx.Tx with a queue of effects to
// run once it has committed: InTx runs them only then, so an effect
// (announcing a completed delivery, waking an outbox) can never see, or
// announce, what is not committed yet.
type Tx struct {
	pgx.Tx
	after  []func()
	locked map[rowKey]bool // delivery rows locked (DeliveriesLock)
}

// rowKey names a delivery's rows in every table.
type rowKey struct {
	receipt string
	at      time.Time
}

// ErrLockOrder means a transaction asked for a delivery's locks out of the
// one order every writer follows (see the package doc).
var ErrLockOrder = errors.New("store: delivery locks out of order")

func (tx *Tx) lockedRow(receipt string, at time.Time) {
	if tx.locked == nil {
		tx.locked = map[rowKey]bool{}
	}
	tx.locked[rowKey{receipt, at.UTC()}] = true
}

func (tx *Tx) rowLocked(receipt string, at time.Time) bool {
	return tx.locked[rowKey{receipt, at.UTC()}]
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
