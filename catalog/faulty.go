package catalog

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Faulty is a Target that injects failures into another, for tests of the
// callers' retries. Set its fields before the first Apply; it is then safe for
// concurrent use. The zero value of each field injects nothing.
//
// Faulty also has ApplyTx, so that a caller that writes within its own
// transaction when the target can (the importer, under a savepoint) keeps
// doing so under fault injection: the faults are the same, and what passes
// goes to Target's ApplyTx, or to its Apply, outside the transaction, when
// Target has none.
type Faulty struct {
	// Target receives what is not failed.
	Target Target
	// FailFirst fails the first FailFirst calls (of Apply and ApplyTx) as
	// a whole with ErrTransient, without calling Target.
	FailFirst int
	// FailAlways fails every call as a whole with ErrTransient.
	FailAlways bool
	// FailKey, when set, fails every record whose Key it matches: its
	// result is Failed with a SYSTEM_ERROR (CodeTargetFailure) and Target
	// never sees it. It may be called concurrently.
	FailKey func(key string) bool
	// Delay makes each call wait (or until its context is done) before
	// doing anything.
	Delay time.Duration

	calls, failedCalls, failedRecords atomic.Int64
}

// txTarget is a Target that can write within the caller's transaction
// (Store).
type txTarget interface {
	ApplyTx(ctx context.Context, tx pgx.Tx, merchant string, recs []ApplyRecord) ([]ApplyResult, error)
}

// Apply implements Target.
func (f *Faulty) Apply(ctx context.Context, merchant string, recs []ApplyRecord) ([]ApplyResult, error) {
	return f.apply(ctx, recs, func(recs []ApplyRecord) ([]ApplyResult, error) {
		return f.Target.Apply(ctx, merchant, recs)
	})
}

// ApplyTx is Apply within the caller's transaction tx: the records that pass
// go to Target's ApplyTx when it has one. A call failed on purpose leaves tx
// untouched.
func (f *Faulty) ApplyTx(ctx context.Context, tx pgx.Tx, merchant string, recs []ApplyRecord) ([]ApplyResult, error) {
	tt, ok := f.Target.(txTarget)
	if !ok {
		return f.Apply(ctx, merchant, recs)
	}
	return f.apply(ctx, recs, func(recs []ApplyRecord) ([]ApplyResult, error) {
		return tt.ApplyTx(ctx, tx, merchant, recs)
	})
}

// apply injects the faults into one call, passing what is not failed to
// next.
func (f *Faulty) apply(ctx context.Context, recs []ApplyRecord, next func([]ApplyRecord) ([]ApplyResult, error)) ([]ApplyResult, error) {
	n := f.calls.Add(1)
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-ctx.Done():
			t.Stop()
			f.failedCalls.Add(1)
			return nil, fmt.Errorf("catalog: faulty: %w: %w", ErrTransient, ctx.Err())
		case <-t.C:
		}
	}
	if f.FailAlways || n <= int64(f.FailFirst) {
		f.failedCalls.Add(1)
		return nil, fmt.Errorf("catalog: faulty: call %d failed on purpose: %w", n, ErrTransient)
	}
	if f.FailKey == nil {
		return next(recs)
	}
	results := make([]ApplyResult, len(recs))
	pass := make([]ApplyRecord, 0, len(recs))
	at := make([]int, 0, len(recs))
	for i, r := range recs {
		if f.FailKey(r.Key) {
			f.failedRecords.Add(1)
			results[i] = ApplyResult{Outcome: Failed, Errors: []Error{{
				Type: SystemError, Code: CodeTargetFailure,
				Description: fmt.Sprintf("the target failed to write %s %s on purpose (fault injection)", r.Type, r.Key),
			}}}
			continue
		}
		pass = append(pass, r)
		at = append(at, i)
	}
	if len(pass) > 0 {
		got, err := next(pass)
		if err != nil {
			return nil, err
		}
		if len(got) != len(pass) {
			return nil, fmt.Errorf("catalog: faulty: target returned %d results for %d records", len(got), len(pass))
		}
		for j, r := range got {
			results[at[j]] = r
		}
	}
	return results, nil
}

// Calls is how many times Apply (or ApplyTx) was called.
func (f *Faulty) Calls() int { return int(f.calls.Load()) }

// FailedCalls is how many calls failed as a whole on purpose.
func (f *Faulty) FailedCalls() int { return int(f.failedCalls.Load()) }

// FailedRecords is how many records were reported Failed on purpose.
func (f *Faulty) FailedRecords() int { return int(f.failedRecords.Load()) }
