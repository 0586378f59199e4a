package tracking_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

// A delivery completes and the worker dies before it announces the
// completion: the sweep's AnnounceMissed announces it, once. Completed again
// later (reopened by a retry), it is announced again: the message id names
// the completion, not only the delivery.
func TestAnnounceMissedCompletions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.DB(t)
	_, js := testenv.JetStream(t, testenv.NATS(t))
	require.NoError(t, bus.Provision(ctx, js, bus.Config{}))
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	d := deliverAt(t, store, "unannounced", time.Now(), "k0")
	done, err := endOperation(ctx, pool, &d, 0, tracking.StateImported, tracking.CodeImported, nil)
	require.NoError(t, err)
	require.Len(t, done, 1, "completed, and nobody announces it")
	stored := func() uint64 {
		s, err := js.Stream(ctx, bus.StreamEvents)
		require.NoError(t, err)
		subject := bus.EventSubject("m1", d.ReceiptID, "completed")
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
		require.NoError(t, err)
		return info.State.Subjects[subject]
	}
	require.Zero(t, stored())

	n, err := store.AnnounceMissed(ctx, js, time.Hour)
	require.NoError(t, err)
	require.Zero(t, n, "within the grace period the worker announces it")
	n, err = store.AnnounceMissed(ctx, js, 0)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.EqualValues(t, 1, stored())
	n, err = store.AnnounceMissed(ctx, js, 0)
	require.NoError(t, err)
	require.Zero(t, n, "announced once")

	// Completed again (a retry reopened it): a new completion, announced again.
	_, err = pool.Exec(ctx, `UPDATE deliveries SET completed_at = completed_at - interval '1 second' WHERE receipt_id = $1`, d.ReceiptID)
	require.NoError(t, err)
	n, err = store.AnnounceMissed(ctx, js, 0)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.EqualValues(t, 2, stored(), "not dropped as a duplicate of the first")

	// A worker's own announcement counts: nothing is left to the sweep.
	_, err = pool.Exec(ctx, `UPDATE deliveries SET completed_at = completed_at - interval '1 second' WHERE receipt_id = $1`, d.ReceiptID)
	require.NoError(t, err)
	require.NoError(t, store.AnnounceCompleted(ctx, js, d.ReceiptID, d.AcceptedAt))
	n, err = store.AnnounceMissed(ctx, js, 0)
	require.NoError(t, err)
	require.Zero(t, n)
	require.EqualValues(t, 3, stored())
}
