package bus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
)

// TestKeepInputs: a body kept in IMPORT_INPUTS reads back byte for byte
// under its merchant and receipt, keeping it again replaces it, and a body
// over the bucket's bound is refused as IsStreamFull reports, leaving
// nothing of it behind. OpenBody finds a delivery's message or object and
// nothing else's.
func TestKeepInputs(t *testing.T) {
	t.Parallel()
	_, js := testenv.JetStream(t, testenv.NATS(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, bus.Provision(ctx, js, bus.Config{Limits: bus.Limits{InputsBytes: 4 << 20}}))

	var big bytes.Buffer
	for i := 0; big.Len() <= bus.InlineLimit; i++ {
		fmt.Fprintf(&big, "{\"key\":\"p%06d\"}\n", i)
	}
	small := []byte("{\"key\":\"p1\"}\n")
	inline, err := bus.PublishDelivery(ctx, js, bus.Delivery{Merchant: "ma", Receipt: "keep-inline"}, bytes.NewReader(small))
	require.NoError(t, err)
	object, err := bus.PublishDelivery(ctx, js, bus.Delivery{Merchant: "ma", Receipt: "keep-object"}, bytes.NewReader(big.Bytes()))
	require.NoError(t, err)
	require.NotEmpty(t, object.Object)

	read := func(r io.ReadCloser, size int64, err error) []byte {
		t.Helper()
		require.NoError(t, err)
		defer r.Close()
		b, err := io.ReadAll(r)
		require.NoError(t, err)
		require.Equal(t, int64(len(b)), size)
		return b
	}
	for _, tt := range []struct {
		body bus.Body
		want []byte
	}{
		{bus.Body{Merchant: "ma", Receipt: "keep-inline", Source: fmt.Sprintf("%s:%d", bus.StreamDeliveries, inline.Sequence)}, small},
		{bus.Body{Merchant: "ma", Receipt: "keep-object", Source: fmt.Sprintf("%s:%d", bus.StreamDeliveries, object.Sequence), Object: object.Object}, big.Bytes()},
	} {
		got := read(bus.NewBodies(js).Open(ctx, tt.body))
		require.True(t, bytes.Equal(tt.want, got), tt.body.Receipt)
		r, size, err := bus.NewBodies(js).Open(ctx, tt.body)
		require.NoError(t, err)
		require.NoError(t, bus.NewBodies(js).Keep(ctx, tt.body.Merchant, tt.body.Receipt, r, size))
		r.Close()
		require.True(t, bytes.Equal(tt.want, read(bus.NewBodies(js).OpenKept(ctx, "ma", tt.body.Receipt))), tt.body.Receipt)
		require.NoError(t, bus.NewBodies(js).Remove(ctx, tt.body.Source, tt.body.Object))
		_, _, err = bus.NewBodies(js).Open(ctx, tt.body)
		require.ErrorIs(t, err, bus.ErrBodyGone, "removed: %s", tt.body.Receipt)
		require.True(t, bytes.Equal(tt.want, read(bus.NewBodies(js).OpenKept(ctx, "ma", tt.body.Receipt))), "kept after the removal: %s", tt.body.Receipt)
	}
	// Another merchant's message, or another receipt's, is not this body.
	_, _, err = bus.NewBodies(js).Open(ctx, bus.Body{Merchant: "mb", Receipt: "keep-inline", Source: fmt.Sprintf("%s:%d", bus.StreamDeliveries, inline.Sequence)})
	require.ErrorIs(t, err, bus.ErrBodyGone)
	_, _, err = bus.NewBodies(js).OpenKept(ctx, "mb", "keep-inline")
	require.ErrorIs(t, err, bus.ErrBodyGone, "kept under its merchant only")

	// Kept again: replaced, not doubled.
	require.NoError(t, bus.NewBodies(js).Keep(ctx, "ma", "keep-inline", bytes.NewReader([]byte("again\n")), 6))
	require.Equal(t, "again\n", string(read(bus.NewBodies(js).OpenKept(ctx, "ma", "keep-inline"))))

	// Over the bucket's bound: refused, as full, and nothing of it stays.
	obs, err := js.ObjectStore(ctx, bus.BucketInputs)
	require.NoError(t, err)
	st, err := obs.Status(ctx)
	require.NoError(t, err)
	before := st.Size()
	huge := bytes.Repeat([]byte("x"), 5<<20)
	err = bus.NewBodies(js).Keep(ctx, "ma", "keep-huge", bytes.NewReader(huge), int64(len(huge)))
	require.Error(t, err)
	require.True(t, bus.IsStreamFull(err), "%v", err)
	_, _, err = bus.NewBodies(js).OpenKept(ctx, "ma", "keep-huge")
	require.ErrorIs(t, err, bus.ErrBodyGone)
	require.Eventually(t, func() bool {
		st, err := obs.Status(ctx)
		return err == nil && st.Size() == before
	}, 10*time.Second, 50*time.Millisecond, "the chunks written before the refusal are purged")
}

// TestInputsOff: with InputsBytes -1 there is no IMPORT_INPUTS, and a kept
// body is simply gone.
func TestInputsOff(t *testing.T) {
	t.Parallel()
	nc, err := nats.Connect(testenv.NATS(t).ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, bus.Provision(ctx, js, bus.Config{Limits: bus.Limits{InputsBytes: -1}}))
	_, err = js.ObjectStore(ctx, bus.BucketInputs)
	require.True(t, errors.Is(err, jetstream.ErrBucketNotFound), "%v", err)
	_, _, err = bus.NewBodies(js).OpenKept(ctx, "ma", "keep-none")
	require.ErrorIs(t, err, bus.ErrBodyGone)
}
