package resolver

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/testenv"
)

// Resolvers pairing the same products at once (a product batch and a
// master-variant batch, both for products whose pairing row exists) wait
// for each other, and never deadlock. Before, each took the row FOR SHARE
// and then FOR UPDATE: two sharers each waited for the other's upgrade.
func TestPairingLockConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.DB(t)
	keys := []string{"p1", "p2", "p3"}
	for _, k := range keys {
		_, err := pool.Exec(ctx, `INSERT INTO known_keys (merchant_id, type_id, key) VALUES ('m1', $1, $2)`, masterTypeID, k)
		require.NoError(t, err)
	}
	for round := range 30 {
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					mine := keys
					if i%2 == 1 {
						mine = []string{"p3", "p1", "p4"} // unsorted, one absent
					}
					return pairingLock(ctx, tx, "m1", mine)
				})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err, "round %d", round)
		}
	}
}
