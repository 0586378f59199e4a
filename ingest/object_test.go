package ingest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

// An Import-Object that names a link fails the delivery at once: no retry
// makes a link an object. The body it links to is not read.
func TestObjectLinkIsIngestionFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	ctx := context.Background()
	obs, err := h.js.ObjectStore(ctx, bus.BucketPayloads)
	require.NoError(t, err)
	info, err := obs.Put(ctx, jetstream.ObjectMeta{Name: "m1.target-body"}, bytes.NewReader(products(3, 0)))
	require.NoError(t, err)
	_, err = obs.AddLink(ctx, "m1.a-link", info)
	require.NoError(t, err)

	h.publish(delivery{receipt: "object-link", headers: map[string]string{bus.HeaderObject: "m1.a-link"}})
	var st tracking.StatusBody
	require.Eventually(t, func() bool {
		d, err := h.store.DeliveryGet(ctx, "object-link")
		if err != nil || d.IngestState == tracking.IngestReceiving {
			return false
		}
		st, err = h.store.Status(ctx, &d)
		return err == nil
	}, 30*time.Second, 20*time.Millisecond, "the delivery is retried instead of failing")
	require.Equal(t, "IngestionFailure", st.Status)
	require.Len(t, st.IngestionErrors, 1)
	require.Equal(t, CodeMissingObject, st.IngestionErrors[0].Code)
	require.Contains(t, st.IngestionErrors[0].Description, "link")
	require.Empty(t, h.ops("object-link"))
}

// An object whose data is gone from the store (its description stays)
// fails the delivery once a chunk does not come, instead of being read
// again until the delivery's max age.
func TestObjectWithoutDataIsIngestionFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	ctx := context.Background()
	obs, err := h.js.ObjectStore(ctx, bus.BucketPayloads)
	require.NoError(t, err)
	info, err := obs.Put(ctx, jetstream.ObjectMeta{Name: "m1.gone-body"}, bytes.NewReader(products(3, 0)))
	require.NoError(t, err)
	s, err := h.js.Stream(ctx, "OBJ_"+bus.BucketPayloads)
	require.NoError(t, err)
	require.NoError(t, s.Purge(ctx, jetstream.WithPurgeSubject("$O."+bus.BucketPayloads+".C."+info.NUID)))

	h.publish(delivery{receipt: "object-gone", headers: map[string]string{bus.HeaderObject: "m1.gone-body"}})
	var st tracking.StatusBody
	require.Eventually(t, func() bool {
		d, err := h.store.DeliveryGet(ctx, "object-gone")
		if err != nil || d.IngestState == tracking.IngestReceiving {
			return false
		}
		st, err = h.store.Status(ctx, &d)
		return err == nil
	}, bus.ObjectChunkStall+30*time.Second, 50*time.Millisecond, "the delivery is retried instead of failing")
	require.Equal(t, "IngestionFailure", st.Status)
	require.Len(t, st.IngestionErrors, 1)
	require.Equal(t, CodeMissingObject, st.IngestionErrors[0].Code)
	require.Contains(t, st.IngestionErrors[0].Description, "0 of its 1 chunks")
}
