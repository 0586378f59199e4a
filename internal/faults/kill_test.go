package faults

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/importd/importd/internal/testenv"
)

// killPoint is a moment of the run, as a fraction of one role's progress,
// at which that role's process is killed.
type killPoint struct {
	role string
	at   float64
	done bool
}

// share is how far role has come on the main delivery, from 0 to 1.
func share(role string, p progress, w *workload) float64 {
	valid, _ := w.expected()
	switch role {
	case "ingest":
		return float64(p.read) / float64(w.n)
	case "resolve":
		return float64(p.total-p.queued) / float64(w.n)
	default:
		return float64(p.imported) / float64(valid)
	}
}

// TestKillRoles kills each role with SIGKILL at random moments (seeded)
// of a mixed delivery, -faults.kills times each, and restarts it after a
// random pause: every record must still end in its right state, once.
func TestKillRoles(t *testing.T) {
	// Settling every 2 s (a quarter of IMPORTD_REDRIVE_AFTER), so that
	// kills land while bodies are kept too, and verify checks they were.
	h := newHarness(t, harnessConfig{DBURL: testenv.DBURL(t), NATSURL: testenv.NATS(t).ClientURL(),
		Env: []string{"IMPORTD_REDRIVE_AFTER=8s"}, CheckInputs: true})
	w := newWorkload("kill", *flagRecords)
	procs := h.pipeline()
	var points []*killPoint
	for _, role := range []string{"ingest", "resolve", "import"} {
		for range *flagKills {
			points = append(points, &killPoint{role: role, at: 0.05 + 0.85*h.rng.Float64()})
		}
	}
	slices.SortFunc(points, func(a, b *killPoint) int { return int((a.at - b.at) * 1e6) })
	var inFlight sync.WaitGroup
	restarting := map[string]bool{}
	restarted := make(chan string, len(points))
	h.drive(w, func(ctx context.Context, p progress) {
		for {
			select {
			case role := <-restarted:
				restarting[role] = false
				continue
			default:
			}
			break
		}
		for _, k := range points {
			if k.done || restarting[k.role] || share(k.role, p, w) < k.at {
				continue
			}
			k.done = true
			restarting[k.role] = true
			pause := time.Duration(h.rng.IntN(1000)) * time.Millisecond
			inFlight.Go(func() {
				h.killRestart(procs[k.role], pause)
				restarted <- k.role
			})
		}
	})
	inFlight.Wait()
	missed := 0
	for _, k := range points {
		if !k.done {
			missed++
		}
	}
	if missed > 0 {
		t.Logf("faults: %d kill points were not reached before the run completed", missed)
	}
	h.verify(w, fmt.Sprintf("%d kill -9 of ingest/resolve/import", h.nfaults.Load()))
}
