package bus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ObjectReader reads an object of an object store chunk by chunk, each
// chunk awaited at most Stall: a read that stops making progress fails
// instead of hanging.
//
// jetstream's ObjectStore.Get reads through a push consumer whose set-up
// request and every read are bounded only by the context's deadline, and a
// large delivery needs a long one: in a cluster whose stream leader has just
// died, the set-up request can go unanswered and Get waits for that whole
// deadline (seen in the cluster fault test: a delivery redelivered after a
// node was killed never resumed). Here the set-up has its own short
// deadline and the chunks come from an ordered pull consumer, one bounded
// wait each.
type ObjectReader struct {
	Info *jetstream.ObjectInfo

	js     jetstream.JetStream
	bucket string
	it     jetstream.MessagesContext
	stall  time.Duration
	chunk  []byte
	chunks int
	read   uint64
	digest hash.Hash
	err    error
}

// ErrObjectUnavailable is wrapped by the errors of an ObjectReader that
// come from JetStream rather than from the object: reading it again later
// may well succeed.
var ErrObjectUnavailable = errors.New("object store unavailable")

// ErrObjectIncomplete reports an object whose description is in the store
// but whose data is not (its chunks were purged or lost): reading it again
// cannot succeed.
var ErrObjectIncomplete = errors.New("bus: object data missing")

// ErrObjectLink reports an object that is a link to another: a delivery's
// body is never read through a link, which could name another merchant's
// object or a bucket of its own.
var ErrObjectLink = errors.New("bus: object is a link")

// ObjectChunkStall is how long an ObjectReader waits for the next chunk
// before failing.
const ObjectChunkStall = 20 * time.Second

// objectSetup bounds the requests that find an object and start reading it.
const objectSetup = 10 * time.Second

// OpenObject opens name in bucket for reading. An object that does not
// exist is an error for which IsObjectNotFound is true.
func OpenObject(ctx context.Context, js jetstream.JetStream, bucket, name string, stall time.Duration) (*ObjectReader, error) {
	sctx, cancel := context.WithTimeout(ctx, objectSetup)
	defer cancel()
	store, err := js.ObjectStore(sctx, bucket)
	if err != nil {
		return nil, err
	}
	return openObjectIn(sctx, js, store, bucket, name, stall)
}

// openObjectIn is OpenObject with the bucket's store opened already.
func openObjectIn(ctx context.Context, js jetstream.JetStream, store jetstream.ObjectStore, bucket, name string, stall time.Duration) (*ObjectReader, error) {
	if stall <= 0 {
		stall = ObjectChunkStall
	}
	ctx, cancel := context.WithTimeout(ctx, objectSetup)
	defer cancel()
	info, err := store.GetInfo(ctx, name)
	if err != nil {
		return nil, err
	}
	if info.Opts != nil && info.Opts.Link != nil {
		return nil, fmt.Errorf("%w: %q; links are not read", ErrObjectLink, name)
	}
	return &ObjectReader{Info: info, js: js, bucket: bucket, stall: stall, digest: sha256.New()}, nil
}

// start creates the ordered consumer of the object's chunks.
func (r *ObjectReader) start() error {
	ctx, cancel := context.WithTimeout(context.Background(), objectSetup)
	defer cancel()
	cons, err := r.js.OrderedConsumer(ctx, "OBJ_"+r.bucket, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"$O." + r.bucket + ".C." + r.Info.NUID},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		// A reset that keeps failing fails the read instead of looping.
		MaxResetAttempts: 5,
	})
	if err != nil {
		return fmt.Errorf("bus: read object %q: %w: %w", r.Info.Name, ErrObjectUnavailable, err)
	}
	// A few chunks buffered ahead, whatever their size.
	r.it, err = cons.Messages(jetstream.PullMaxBytes(8<<20), jetstream.PullHeartbeat(5*time.Second))
	if err != nil {
		return fmt.Errorf("bus: read object %q: %w: %w", r.Info.Name, ErrObjectUnavailable, err)
	}
	return nil
}

// Read reads the object's bytes. At the end it checks the size and digest.
func (r *ObjectReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	for len(r.chunk) == 0 {
		if r.chunks == int(r.Info.Chunks) {
			r.err = r.verify()
			return 0, r.err
		}
		if r.it == nil {
			if r.err = r.start(); r.err != nil {
				return 0, r.err
			}
		}
		msg, err := r.it.Next(jetstream.NextMaxWait(r.stall))
		if err != nil {
			if have, ok := r.storedChunks(); ok && have < int(r.Info.Chunks) {
				r.err = fmt.Errorf("%w: object %q: %d of its %d chunks are in the store", ErrObjectIncomplete, r.Info.Name, have, r.Info.Chunks)
				return 0, r.err
			}
			r.err = fmt.Errorf("bus: object %q: chunk %d of %d not received within %s: %w: %w", r.Info.Name, r.chunks+1, r.Info.Chunks, r.stall, ErrObjectUnavailable, err)
			return 0, r.err
		}
		r.chunks++
		r.chunk = msg.Data()
		r.read += uint64(len(r.chunk))
		r.digest.Write(r.chunk)
		if r.read > r.Info.Size {
			r.err = fmt.Errorf("bus: object %q: more than its %d bytes", r.Info.Name, r.Info.Size)
			return 0, r.err
		}
	}
	n := copy(p, r.chunk)
	r.chunk = r.chunk[n:]
	return n, nil
}

// storedChunks counts the object's chunks in the store, ok false when
// JetStream does not answer: a stalled read is then not told from a lost
// object.
func (r *ObjectReader) storedChunks() (int, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), objectSetup)
	defer cancel()
	s, err := r.js.Stream(ctx, "OBJ_"+r.bucket)
	if err != nil {
		return 0, false
	}
	subject := "$O." + r.bucket + ".C." + r.Info.NUID
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return 0, false
	}
	return int(info.State.Subjects[subject]), true
}

func (r *ObjectReader) verify() error {
	if r.read != r.Info.Size {
		return fmt.Errorf("bus: object %q: %d bytes read, %d expected", r.Info.Name, r.read, r.Info.Size)
	}
	sum, err := jetstream.DecodeObjectDigest(r.Info.Digest)
	if err != nil {
		return fmt.Errorf("bus: object %q: %w", r.Info.Name, err)
	}
	if !bytes.Equal(sum, r.digest.Sum(nil)) {
		return fmt.Errorf("bus: object %q: %w", r.Info.Name, jetstream.ErrDigestMismatch)
	}
	return io.EOF
}

// Close stops reading.
func (r *ObjectReader) Close() error {
	if r.it != nil {
		r.it.Stop()
	}
	if r.err == nil || errors.Is(r.err, io.EOF) {
		r.err = errors.New("bus: object reader closed")
	}
	return nil
}
