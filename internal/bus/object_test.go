package bus_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
)

func putObject(t *testing.T, js jetstream.JetStream, name string, size int) ([]byte, *jetstream.ObjectInfo) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body := make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(size), 1))
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	store, err := js.ObjectStore(ctx, bus.BucketPayloads)
	require.NoError(t, err)
	info, err := store.Put(ctx, jetstream.ObjectMeta{Name: name, Opts: &jetstream.ObjectMetaOptions{ChunkSize: 64 << 10}}, bytes.NewReader(body))
	require.NoError(t, err)
	return body, info
}

func TestObjectReader(t *testing.T) {
	t.Parallel()
	_, js := testenv.JetStream(t, testenv.NATS(t))
	ctx := context.Background()
	for _, size := range []int{0, 1, 64 << 10, 20<<20 + 17} { // empty, one chunk, exactly one, more than read ahead
		body, info := putObject(t, js, "obj", size)
		r, err := bus.OpenObject(ctx, js, bus.BucketPayloads, "obj", time.Second)
		require.NoError(t, err)
		require.Equal(t, info.NUID, r.Info.NUID)
		got, err := io.ReadAll(r)
		require.NoError(t, err, "size %d", size)
		require.True(t, bytes.Equal(body, got), "size %d: %d bytes read", size, len(got))
		require.NoError(t, r.Close())
	}
	_, err := bus.OpenObject(ctx, js, bus.BucketPayloads, "missing", time.Second)
	require.True(t, bus.IsObjectNotFound(err), "%v", err)
}

// A read whose chunks stop coming fails after the stall timeout instead of
// hanging (jetstream's Get waits for its context's deadline); chunks that
// are gone from the store make it ErrObjectIncomplete, which no retry
// cures.
func TestObjectReaderStall(t *testing.T) {
	t.Parallel()
	_, js := testenv.JetStream(t, testenv.NATS(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, info := putObject(t, js, "obj", 1<<20)
	r, err := bus.OpenObject(ctx, js, bus.BucketPayloads, "obj", 500*time.Millisecond)
	require.NoError(t, err)
	defer r.Close()
	// The chunks vanish; the object's description stays.
	s, err := js.Stream(ctx, "OBJ_"+bus.BucketPayloads)
	require.NoError(t, err)
	require.NoError(t, s.Purge(ctx, jetstream.WithPurgeSubject("$O."+bus.BucketPayloads+".C."+info.NUID)))
	start := time.Now()
	_, err = io.ReadAll(r)
	require.ErrorIs(t, err, bus.ErrObjectIncomplete)
	require.ErrorContains(t, err, "0 of its 16 chunks are in the store")
	require.Less(t, time.Since(start), 10*time.Second)
}
