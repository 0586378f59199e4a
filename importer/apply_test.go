package importer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/importd/importd/catalog"
)

// batchFailer fails, as a whole and transiently, every batch holding one of
// its bad keys, like a database whose trigger refuses those rows.
type batchFailer struct {
	bad   map[string]bool
	calls int
}

func (f *batchFailer) Apply(_ context.Context, _ string, recs []catalog.ApplyRecord) ([]catalog.ApplyResult, error) {
	f.calls++
	res := make([]catalog.ApplyResult, len(recs))
	for i, r := range recs {
		if f.bad[r.Key] {
			return nil, fmt.Errorf("row %s: %w", r.Key, catalog.ErrTransient)
		}
		res[i] = catalog.ApplyResult{Outcome: catalog.Created}
	}
	return res, nil
}

func TestApplyIsolating(t *testing.T) {
	t.Parallel()
	recs := make([]catalog.ApplyRecord, 250)
	for i := range recs {
		recs[i] = catalog.ApplyRecord{Type: catalog.Category, Key: fmt.Sprintf("k-%d", i)}
	}
	tests := []struct {
		name      string
		bad       []string
		wantCalls int // calls of the target
	}{
		{name: "healthy batch: one call", wantCalls: 1},
		{name: "one bad record: eight halvings", bad: []string{"k-100"}, wantCalls: 17},
		{name: "two bad records", bad: []string{"k-3", "k-200"}, wantCalls: 31},
		{name: "every record bad: bounded", bad: func() []string {
			var all []string
			for i := range recs {
				all = append(all, fmt.Sprintf("k-%d", i))
			}
			return all
		}(), wantCalls: maxApplyCalls - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := &batchFailer{bad: map[string]bool{}}
			for _, k := range tt.bad {
				target.bad[k] = true
			}
			w := &Worker{cfg: Config{Target: target, ApplyTimeout: time.Minute}, logger: zap.NewNop()}
			res, err := w.applyIsolating(context.Background(), nil, "m1", recs)
			require.NoError(t, err)
			require.Len(t, res, len(recs))
			require.Equal(t, tt.wantCalls, target.calls)
			require.LessOrEqual(t, target.calls, maxApplyCalls)
			failed := 0
			for i, r := range res {
				if target.bad[recs[i].Key] {
					require.Equal(t, catalog.Failed, r.Outcome, recs[i].Key)
					require.Equal(t, CodeTargetFailure, r.Errors[0].Code)
				}
				if r.Outcome == catalog.Failed {
					failed++
				}
			}
			if len(tt.bad) <= 2 {
				require.Equal(t, len(tt.bad), failed, "only the bad records fail")
			}
		})
	}
}

func TestAttemptDelay(t *testing.T) {
	t.Parallel()
	w := &Worker{cfg: Config{RetryWindow: 15 * time.Minute}}
	for range 100 {
		var sum time.Duration
		for n := 1; n < MaxAttempts; n++ {
			d, floor := w.attemptDelay(n), time.Minute<<(n-1)
			require.GreaterOrEqual(t, d, floor, "after attempt %d", n)
			require.LessOrEqual(t, d, floor+floor/4, "after attempt %d", n)
			sum += d
		}
		require.GreaterOrEqual(t, sum, w.cfg.RetryWindow)
	}
}
