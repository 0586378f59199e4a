package faults

import (
	"context"
	"fmt"
	"testing"

	"github.com/importd/importd/internal/testenv"
)

// TestTwoOfEach runs two processes of every role at once (six processes)
// and kills one of each with SIGKILL mid-run, at a random moment of that
// role's work, without restarting it: the survivor of each role takes over
// what the dead one held (after the ack wait) and finishes.
func TestTwoOfEach(t *testing.T) {
	h := newHarness(t, harnessConfig{DBURL: testenv.DBURL(t), NATSURL: testenv.NATS(t).ClientURL()})
	w := newWorkload("twoofeach", *flagRecords)
	victims := map[string]*proc{}
	for _, role := range []string{"ingest", "resolve", "import"} {
		victims[role] = h.role(role)
		h.role(role)
	}
	at := map[string]float64{}
	for role := range victims {
		at[role] = 0.1 + 0.6*h.rng.Float64()
	}
	h.drive(w, func(ctx context.Context, p progress) {
		for role, v := range victims {
			if v == nil || share(role, p, w) < at[role] {
				continue
			}
			v.kill()
			victims[role] = nil
			h.fault("kill -9 of %s at %.0f%% of its work (not restarted; %s-2 carries on)", v.name, 100*share(role, p, w), role)
		}
	})
	h.verify(w, fmt.Sprintf("2 of each role, %d of them killed", h.nfaults.Load()))
}
