package catalog

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Faulty is a Target that injects failures into another, for tests of the
// callers' retries. Set its fields before the first Apply; it is then safe for
// concurrent use. The zero value of each field injects nothing.
type Faulty struct {
	// Target receives what is not failed.
	Target Target
	// FailFirst fails the first FailFirst calls of Apply as a whole with
	// ErrTransient, without calling Target.
	FailFirst int
	// FailAlways fails every call of Apply as a whole with ErrTransient.
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

// Apply implements Target.
func (f *Faulty) Apply(ctx context.Context, merchant string, recs []ApplyRecord) ([]ApplyResult, error) {
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
		return f.Target.Apply(ctx, merchant, recs)
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
		got, err := f.Target.Apply(ctx, merchant, pass)
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

// Calls is how many times Apply was called.
func (f *Faulty) Calls() int { return int(f.calls.Load()) }

// FailedCalls is how many calls of Apply failed as a whole on purpose.
func (f *Faulty) FailedCalls() int { return int(f.failedCalls.Load()) }

// FailedRecords is how many records were reported Failed on purpose.
func (f *Faulty) FailedRecords() int { return int(f.failedRecords.Load()) }
