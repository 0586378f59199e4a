package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/internal/testenv"
)

func TestInTxEffectsAfterCommit(t *testing.T) {
	t.Parallel()
	pool := testenv.DB(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE effects (n int)`)
	require.NoError(t, err)

	// The effect runs after the commit: another connection sees the row.
	var seen []int
	err = store.InTx(ctx, pool, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO effects VALUES (1)`); err != nil {
			return err
		}
		tx.AfterCommit(func() {
			var n int
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM effects`).Scan(&n))
			seen = append(seen, n)
		})
		tx.AfterCommit(func() { seen = append(seen, -1) })
		require.Empty(t, seen, "not before the commit")
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []int{1, -1}, seen, "in order, the row visible")

	// Rolled back: no effect.
	boom := errors.New("boom")
	err = store.InTx(ctx, pool, func(tx *store.Tx) error {
		tx.AfterCommit(func() { t.Error("an effect of a rolled-back transaction ran") })
		return boom
	})
	require.ErrorIs(t, err, boom)
}
