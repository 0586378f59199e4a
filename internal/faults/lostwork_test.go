package faults

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
)

// TestLostWork loses the work messages JetStream had acknowledged, as an
// OS crash of a single node can (its page cache gone): mid-run,
// -faults.kills times, every role is killed with SIGKILL, IMPORT_WORK is
// purged, and the roles start again. Nothing publishes the lost work
// again but the re-drive of operations that made no progress for
// IMPORTD_REDRIVE_AFTER: every record must still end in its right state,
// once.
func TestLostWork(t *testing.T) {
	h := newHarness(t, harnessConfig{DBURL: testenv.DBURL(t), NATSURL: testenv.NATS(t).ClientURL(),
		Env: []string{"IMPORTD_REDRIVE_AFTER=2s", "IMPORTD_RETRY_WINDOW=2s"}, CheckInputs: true})
	w := newWorkload("lostwork", *flagRecords)
	procs := h.pipeline()
	lost := 0
	h.driveSpread(w, *flagKills, func(ctx context.Context, _ int, p progress) {
		for _, role := range []string{"ingest", "resolve", "import"} {
			procs[role].kill()
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s, err := h.js.Stream(pctx, bus.StreamWork)
		require.NoError(t, err)
		info, err := s.Info(pctx)
		require.NoError(t, err)
		require.NoError(t, s.Purge(pctx))
		lost += int(info.State.Msgs)
		h.fault("kill -9 of every role and %s purged (%d work messages lost) at %d imported, %d queued", bus.StreamWork, info.State.Msgs, p.imported, p.queued)
		for _, role := range []string{"ingest", "resolve", "import"} {
			require.NoError(t, procs[role].start(), "restarting %s", role)
		}
	})
	var redriven int
	require.NoError(t, h.pool.QueryRow(context.Background(), `SELECT count(*) FROM tracking_events WHERE code = 2303`).Scan(&redriven))
	t.Logf("faults: %d work messages lost, %d Redriven events", lost, redriven)
	require.Positive(t, lost, "work was lost at some purge: else this test tests nothing")
	require.Positive(t, redriven, "the lost work came back through the re-drive")
	h.verify(w, fmt.Sprintf("%d kill -9 of all + %s purged", h.nfaults.Load(), bus.StreamWork))
}
