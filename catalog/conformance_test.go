package catalog_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/catalog/catalogtest"
	"github.com/importd/importd/internal/testenv"
)

// storeState lists every row of the merchant with its version and the
// transaction that wrote it last: any write changes it, even one that
// changes no data.
func storeState(pool *pgxpool.Pool) func(ctx context.Context, merchant string) (string, error) {
	return func(ctx context.Context, merchant string) (string, error) {
		var b strings.Builder
		for _, rt := range catalog.ResourceTypes {
			table, id := catalog.TableOf(rt)
			var rows string
			err := pool.QueryRow(ctx, `SELECT coalesce(string_agg(`+id+` || ' v' || version || ' x' || xmin::text, ', ' ORDER BY `+id+`), '')
				FROM `+table+` WHERE merchant_id = $1`, merchant).Scan(&rows)
			if err != nil {
				return "", fmt.Errorf("state of %s: %w", table, err)
			}
			fmt.Fprintf(&b, "%s: %s\n", rt, rows)
		}
		return b.String(), nil
	}
}

func TestStoreConformance(t *testing.T) {
	t.Parallel()
	pool := testenv.DB(t)
	catalogtest.TestTarget(t, func(*testing.T) catalogtest.Harness {
		return catalogtest.Harness{Target: catalog.NewStore(pool), Pool: pool, State: storeState(pool)}
	})
}

func TestFaultyConformance(t *testing.T) {
	t.Parallel()
	pool := testenv.DB(t)
	tests := []struct {
		name   string
		faulty func(inner catalog.Target) *catalog.Faulty
	}{
		{"no faults", func(inner catalog.Target) *catalog.Faulty { return &catalog.Faulty{Target: inner} }},
		// The suite retries a transient failure as the importer does: each
		// case's first calls fail and write nothing.
		{"first calls fail", func(inner catalog.Target) *catalog.Faulty { return &catalog.Faulty{Target: inner, FailFirst: 2} }},
		{"no key fails", func(inner catalog.Target) *catalog.Faulty {
			return &catalog.Faulty{Target: inner, FailKey: func(string) bool { return false }}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			catalogtest.TestTarget(t, func(*testing.T) catalogtest.Harness {
				return catalogtest.Harness{Target: tt.faulty(catalog.NewStore(pool)), Pool: pool, State: storeState(pool)}
			})
		})
	}
}

// TestFaultyApplyTx: Faulty offers ApplyTx when its target does, injects the
// same faults there, and writes within the caller's transaction.
func TestFaultyApplyTx(t *testing.T) {
	t.Parallel()
	pool := testenv.DB(t)
	ctx := context.Background()
	var _ catalogtest.TxTarget = (*catalog.Faulty)(nil)

	f := &catalog.Faulty{Target: catalog.NewStore(pool), FailFirst: 1, FailKey: func(k string) bool { return k == "bad" }}
	recs := []catalog.ApplyRecord{
		{Type: catalog.Category, Key: "good", Data: []byte(`{"key":"good","name":{"en":"Good"},"slug":{"en":"good"}}`)},
		{Type: catalog.Category, Key: "bad", Data: []byte(`{"key":"bad","name":{"en":"Bad"},"slug":{"en":"bad"}}`)},
	}
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = f.ApplyTx(ctx, tx, "m", recs)
	require.ErrorIs(t, err, catalog.ErrTransient)
	res, err := f.ApplyTx(ctx, tx, "m", recs)
	require.NoError(t, err, "the failed call left the transaction usable")
	require.Equal(t, catalog.Created, res[0].Outcome)
	require.Equal(t, catalog.Failed, res[1].Outcome)
	require.Equal(t, catalog.CodeTargetFailure, res[1].Errors[0].Code)
	require.Equal(t, []int{2, 1, 1}, []int{f.Calls(), f.FailedCalls(), f.FailedRecords()})

	// Not committed: the record is the transaction's alone.
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM catalog_categories WHERE merchant_id = 'm'`).Scan(&n))
	require.Zero(t, n)
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM catalog_categories WHERE merchant_id = 'm'`).Scan(&n))
	require.Equal(t, 1, n)
}

// echo reports every record Created: a target without ApplyTx.
type echo struct{ calls int }

func (e *echo) Apply(_ context.Context, _ string, recs []catalog.ApplyRecord) ([]catalog.ApplyResult, error) {
	e.calls++
	res := make([]catalog.ApplyResult, len(recs))
	for i := range res {
		res[i].Outcome = catalog.Created
	}
	return res, nil
}

// TestFaultyApplyTxWithoutTx: over a target without ApplyTx, Faulty's
// ApplyTx goes to its Apply.
func TestFaultyApplyTxWithoutTx(t *testing.T) {
	t.Parallel()
	inner := &echo{}
	f := &catalog.Faulty{Target: inner}
	res, err := f.ApplyTx(context.Background(), nil, "m", []catalog.ApplyRecord{{Type: catalog.Category, Key: "a"}})
	require.NoError(t, err)
	require.Equal(t, catalog.Created, res[0].Outcome)
	require.Equal(t, 1, inner.calls)
}
