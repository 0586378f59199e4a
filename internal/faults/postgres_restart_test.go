package faults

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/testenv"
)

// TestPostgresRestart restarts the PostgreSQL server (a cluster the test
// owns) mid-run, -faults.kills times, alternating `pg_ctl restart -m fast`
// (connections terminated, clean shutdown) and `-m immediate` (a crash and
// recovery): the roles reconnect with backoff and carry on, none exits.
func TestPostgresRestart(t *testing.T) {
	pg := startPostgres(t)
	h := newHarness(t, harnessConfig{DBURL: pg.url(), NATSURL: testenv.NATS(t).ClientURL()})
	w := newWorkload("pgrestart", *flagRecords)
	h.pipeline()
	h.driveSpread(w, *flagKills, func(ctx context.Context, i int, p progress) {
		mode := []string{"fast", "immediate"}[i%2]
		start := time.Now()
		out, err := pg.ctl("restart", "-m", mode)
		require.NoError(t, err, "pg_ctl restart -m %s: %s\n%s", mode, out, pg.logTail())
		h.fault("pg_ctl restart -m %s at %d imported (down and up again in %s)", mode, p.imported, time.Since(start).Round(time.Millisecond))
	})
	h.verify(w, fmt.Sprintf("%d PostgreSQL restarts (fast/immediate)", h.nfaults.Load()))
}
