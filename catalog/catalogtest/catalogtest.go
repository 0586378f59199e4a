// Package catalogtest is the conformance suite of catalog.Target: every
// target runs TestTarget from its tests and passes it, so that the
// guarantees Target documents hold whatever writes the catalog.
package catalogtest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
)

// Harness is a target under test and what the suite needs around it.
type Harness struct {
	Target catalog.Target
	// Pool, when set, is the database a target with ApplyTx writes to:
	// the suite then runs every case through ApplyTx too, within
	// transactions of Pool under a savepoint as the importer does, and
	// holds resources in a transaction of its own to provoke a transient
	// failure.
	Pool *pgxpool.Pool
	// State, when set, reads what the catalog holds for a merchant in a
	// form that changes with every write: the suite checks that what must
	// write nothing leaves it equal. Without it the suite judges by the
	// outcomes of later applies alone.
	State func(ctx context.Context, merchant string) (string, error)
	// Unordered says that the target does not keep Order: the cases of
	// Superseded records are skipped.
	Unordered bool
}

// TxTarget is a Target that can also write within the caller's transaction
// (catalog.Store): the importer prefers ApplyTx when the target has it.
type TxTarget interface {
	catalog.Target
	ApplyTx(ctx context.Context, tx pgx.Tx, merchant string, recs []catalog.ApplyRecord) ([]catalog.ApplyResult, error)
}

// TestTarget runs the suite against the targets newHarness returns, one per
// case. Each case writes as merchants of its own, named after the test, so
// the harnesses may share one catalog.
func TestTarget(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Run("Apply", func(t *testing.T) {
		run(t, newHarness, cases, func(h Harness) *mode { return &mode{h: h, apply: h.Target.Apply} })
	})
	t.Run("ApplyTx", func(t *testing.T) {
		h := newHarness(t)
		if _, ok := h.Target.(TxTarget); !ok {
			t.Skip("the target has no ApplyTx")
		}
		if h.Pool == nil {
			t.Skip("the harness has no Pool for the target's ApplyTx")
		}
		run(t, newHarness, append(cases[:len(cases):len(cases)], txCases...), func(h Harness) *mode {
			tt := h.Target.(TxTarget)
			return &mode{h: h, tx: tt, apply: func(ctx context.Context, merchant string, recs []catalog.ApplyRecord) ([]catalog.ApplyResult, error) {
				return applyInTx(ctx, h.Pool, tt, merchant, recs)
			}}
		})
	})
}

// mode is a harness and how a case applies a batch through it: Apply, or
// ApplyTx in a transaction that commits.
type mode struct {
	h     Harness
	tx    TxTarget // when the batches go through ApplyTx
	apply func(ctx context.Context, merchant string, recs []catalog.ApplyRecord) ([]catalog.ApplyResult, error)
}

type testCase struct {
	name string
	run  func(t *testing.T, m *mode)
}

// cases are the guarantees of Target, one subtest each.
var cases = []testCase{
	{"CreatedUpdatedUnchanged", testCreatedUpdatedUnchanged},
	{"IdenticalReapplyWritesNothing", testIdenticalReapply},
	{"BatchInOrder", testBatchInOrder},
	{"RefusedReferences", testRefusedReferences},
	{"Superseded", testSuperseded},
	{"References", testReferences},
	{"TransientWritesNothing", testTransient},
	{"DoneContext", testDoneContext},
	{"MerchantsIsolated", testMerchantsIsolated},
	{"Concurrent", testConcurrent},
}

// txCases are the guarantees of ApplyTx besides.
var txCases = []testCase{
	{"RolledBackWritesNothing", testRolledBack},
}

func run(t *testing.T, newHarness func(t *testing.T) Harness, cases []testCase, modeOf func(h Harness) *mode) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			require.NotNil(t, h.Target, "the harness has no target")
			c.run(t, modeOf(h))
		})
	}
}

// applyInTx applies recs as the importer does: under a savepoint of a
// transaction, which commits when the batch succeeds and rolls back when it
// fails.
func applyInTx(ctx context.Context, pool *pgxpool.Pool, tt TxTarget, merchant string, recs []catalog.ApplyRecord) ([]catalog.ApplyResult, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalogtest: begin: %w: %w", catalog.ErrTransient, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	sp, err := tx.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalogtest: savepoint: %w", err)
	}
	res, err := tt.ApplyTx(ctx, sp, merchant, recs)
	if err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return nil, fmt.Errorf("catalogtest: rollback to savepoint: %w (after %w)", rerr, err)
		}
		return nil, err
	}
	if err := sp.Commit(ctx); err != nil {
		return nil, fmt.Errorf("catalogtest: release savepoint: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("catalogtest: commit: %w", err)
	}
	return res, nil
}

// maxAttempts bounds the retries of a batch that fails with ErrTransient.
const maxAttempts = 10

// applyOK applies recs, retrying the batch while it fails with ErrTransient
// as the importer does, and checks the results against what every outcome
// promises. Since a transient failure writes nothing, the outcomes are those
// of a first attempt.
func (m *mode) applyOK(t *testing.T, merchant string, recs ...catalog.ApplyRecord) []catalog.ApplyResult {
	t.Helper()
	res, err := m.applyRetry(t.Context(), merchant, recs)
	require.NoError(t, err)
	require.Len(t, res, len(recs))
	for i, r := range res {
		require.NoError(t, checkResult(r), "record %d (%s %s)", i, recs[i].Type, recs[i].Key)
	}
	return res
}

func (m *mode) applyRetry(ctx context.Context, merchant string, recs []catalog.ApplyRecord) ([]catalog.ApplyResult, error) {
	var err error
	for range maxAttempts {
		var res []catalog.ApplyResult
		res, err = m.apply(ctx, merchant, recs)
		if !errors.Is(err, catalog.ErrTransient) {
			return res, err
		}
	}
	return nil, fmt.Errorf("%d attempts: %w", maxAttempts, err)
}

// checkResult checks what an outcome implies of the rest of its result.
func checkResult(r catalog.ApplyResult) error {
	switch r.Outcome {
	case catalog.Created, catalog.Updated, catalog.Unchanged:
		if len(r.Errors) > 0 {
			return fmt.Errorf("%s with errors %v", r.Outcome, r.Errors)
		}
	case catalog.Refused:
		if len(r.Errors) == 0 {
			return errors.New("refused without an error")
		}
		for _, e := range r.Errors {
			if e.Type != catalog.DataError || e.Code == "" || e.Description == "" {
				return fmt.Errorf("refused with %+v, not a DATA_ERROR with a code and a description", e)
			}
		}
	case catalog.Failed:
		if len(r.Errors) == 0 {
			return errors.New("failed without an error")
		}
		for _, e := range r.Errors {
			if e.Type != catalog.SystemError {
				return fmt.Errorf("failed with %+v, not a SYSTEM_ERROR", e)
			}
		}
	case catalog.Superseded:
		if len(r.Errors) > 0 {
			return fmt.Errorf("superseded with errors %v", r.Errors)
		}
		superseded := false
		for _, w := range r.Warnings {
			superseded = superseded || w.Code == catalog.CodeSuperseded
		}
		if !superseded {
			return fmt.Errorf("superseded without a %s warning: %v", catalog.CodeSuperseded, r.Warnings)
		}
	default:
		return fmt.Errorf("no outcome: %s", r.Outcome)
	}
	if r.Outcome != catalog.Created && r.Outcome != catalog.Updated && (len(r.Created) > 0 || len(r.Updated) > 0) {
		return fmt.Errorf("%s, yet created %v and updated %v", r.Outcome, r.Created, r.Updated)
	}
	return nil
}

// state is what the catalog holds for merchant, "" without Harness.State.
func (m *mode) state(t *testing.T, merchant string) string {
	t.Helper()
	if m.h.State == nil {
		return ""
	}
	s, err := m.h.State(t.Context(), merchant)
	require.NoError(t, err)
	return s
}

// merchant names a merchant of the test's own.
func merchant(t *testing.T, suffix string) string {
	return t.Name() + "/" + suffix
}
