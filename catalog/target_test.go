package catalog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// echoTarget reports every record Created, and remembers what it saw.
type echoTarget struct {
	mu   sync.Mutex
	seen []string
}

func (e *echoTarget) Apply(_ context.Context, _ string, recs []ApplyRecord) ([]ApplyResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	res := make([]ApplyResult, len(recs))
	for i, r := range recs {
		e.seen = append(e.seen, r.Key)
		res[i] = ApplyResult{Outcome: Created, Created: []Reference{{TypeID: r.Type.TypeID(), Key: r.Key}}}
	}
	return res, nil
}

// shortTarget returns too few results.
type shortTarget struct{}

func (shortTarget) Apply(context.Context, string, []ApplyRecord) ([]ApplyResult, error) {
	return nil, nil
}

func keyedRecs(keys ...string) []ApplyRecord {
	recs := make([]ApplyRecord, len(keys))
	for i, k := range keys {
		recs[i] = ApplyRecord{OpID: "op-" + k, Type: Category, Key: k, Data: []byte(`{}`)}
	}
	return recs
}

func TestFaulty(t *testing.T) {
	t.Parallel()

	type call struct {
		keys     []string
		err      bool      // the batch fails with ErrTransient
		outcomes []Outcome // else
	}
	tests := []struct {
		name          string
		faulty        func(inner Target) *Faulty
		calls         []call
		seen          []string // what the wrapped target saw
		failedCalls   int
		failedRecords int
	}{
		{
			name:   "nothing injected",
			faulty: func(inner Target) *Faulty { return &Faulty{Target: inner} },
			calls:  []call{{keys: []string{"aa", "bb"}, outcomes: []Outcome{Created, Created}}},
			seen:   []string{"aa", "bb"},
		},
		{
			name:   "first two calls",
			faulty: func(inner Target) *Faulty { return &Faulty{Target: inner, FailFirst: 2} },
			calls: []call{
				{keys: []string{"aa"}, err: true},
				{keys: []string{"aa"}, err: true},
				{keys: []string{"aa"}, outcomes: []Outcome{Created}},
				{keys: []string{"bb"}, outcomes: []Outcome{Created}},
			},
			seen:        []string{"aa", "bb"},
			failedCalls: 2,
		},
		{
			name:        "always",
			faulty:      func(inner Target) *Faulty { return &Faulty{Target: inner, FailAlways: true} },
			calls:       []call{{keys: []string{"aa"}, err: true}, {keys: []string{"aa"}, err: true}},
			failedCalls: 2,
		},
		{
			name: "some records",
			faulty: func(inner Target) *Faulty {
				return &Faulty{Target: inner, FailKey: func(k string) bool { return k == "bb" || k == "dd" }}
			},
			calls: []call{
				{keys: []string{"aa", "bb", "cc", "dd"}, outcomes: []Outcome{Created, Failed, Created, Failed}},
				{keys: []string{"bb"}, outcomes: []Outcome{Failed}},
			},
			seen:          []string{"aa", "cc"},
			failedRecords: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inner := &echoTarget{}
			f := tt.faulty(inner)
			for i, c := range tt.calls {
				res, err := f.Apply(context.Background(), storeMerchant, keyedRecs(c.keys...))
				if c.err {
					require.ErrorIs(t, err, ErrTransient, "call %d", i)
					continue
				}
				require.NoError(t, err, "call %d", i)
				require.Equal(t, c.outcomes, outcomes(res), "call %d", i)
				for j, r := range res {
					if r.Outcome == Failed {
						require.Equal(t, []string{"TARGET_FAILURE "}, codesOf(r.Errors))
						require.Equal(t, SystemError, r.Errors[0].Type)
					} else {
						require.Equal(t, c.keys[j], r.Created[0].Key, "results stay in the order of the records")
					}
				}
			}
			require.Equal(t, tt.seen, inner.seen)
			require.Equal(t, len(tt.calls), f.Calls())
			require.Equal(t, tt.failedCalls, f.FailedCalls())
			require.Equal(t, tt.failedRecords, f.FailedRecords())
		})
	}
}

func TestFaultyConcurrent(t *testing.T) {
	t.Parallel()
	inner := &echoTarget{}
	f := &Faulty{Target: inner, FailFirst: 10, FailKey: func(k string) bool { return k[0] == 'x' }}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, transient := 0, 0
	for i := range 50 {
		wg.Go(func() {
			res, err := f.Apply(context.Background(), storeMerchant, keyedRecs(fmt.Sprintf("a%d", i), fmt.Sprintf("x%d", i)))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrTransient):
				transient++
			case err == nil && len(res) == 2 && res[0].Outcome == Created && res[1].Outcome == Failed:
				ok++
			default:
				t.Errorf("call %d: %v %+v", i, err, res)
			}
		})
	}
	wg.Wait()
	require.Equal(t, 10, transient)
	require.Equal(t, 40, ok)
	require.Equal(t, 50, f.Calls())
	require.Equal(t, 10, f.FailedCalls())
	require.Equal(t, 40, f.FailedRecords())
	require.Len(t, inner.seen, 40)
}

func TestFaultyDelay(t *testing.T) {
	t.Parallel()
	f := &Faulty{Target: &echoTarget{}, Delay: time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := f.Apply(ctx, storeMerchant, keyedRecs("aa"))
	require.ErrorIs(t, err, ErrTransient)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	f = &Faulty{Target: &echoTarget{}, Delay: time.Millisecond}
	res, err := f.Apply(context.Background(), storeMerchant, keyedRecs("aa"))
	require.NoError(t, err)
	require.Equal(t, []Outcome{Created}, outcomes(res))
}

func TestFaultyChecksResults(t *testing.T) {
	t.Parallel()
	f := &Faulty{Target: shortTarget{}, FailKey: func(string) bool { return false }}
	_, err := f.Apply(context.Background(), storeMerchant, keyedRecs("aa"))
	require.Error(t, err)
}

// TestFaultyStore runs a store behind a Faulty, as the importer's retry
// tests do: the failed calls write nothing, the retry writes once.
func TestFaultyStore(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	f := &Faulty{Target: s, FailFirst: 2}
	recs := []ApplyRecord{applyRec(t, Category, categoryJSON(t, "shoes", "Shoes"))}
	var res []ApplyResult
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		if res, err = f.Apply(context.Background(), storeMerchant, recs); !errors.Is(err, ErrTransient) {
			break
		}
	}
	require.NoError(t, err)
	require.Equal(t, []Outcome{Created}, outcomes(res))
	require.Equal(t, 3, f.Calls())
	res = applyOK(t, f, recs...)
	require.Equal(t, []Outcome{Unchanged}, outcomes(res))
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	names := map[Outcome]string{Created: "created", Updated: "updated", Unchanged: "unchanged", Refused: "refused", Failed: "failed", 0: "Outcome(0)", 9: "Outcome(9)"}
	for o, want := range names {
		require.Equal(t, want, o.String())
	}
	require.True(t, Unchanged.Written())
	require.False(t, Refused.Written())
	require.False(t, Failed.Written())
	var _ Target = (*Store)(nil)
	var _ Target = (*Faulty)(nil)
}
