package publish_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/publish"
)

// TestPublish publishes at the inline limit and one byte over it, and
// reads back what ingest reads: the headers, the body or the object.
func TestPublish(t *testing.T) {
	t.Parallel()
	_, js := testenv.JetStream(t, testenv.NATS(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	deliveries, err := js.Stream(ctx, publish.StreamDeliveries)
	require.NoError(t, err)

	for _, tt := range []struct {
		name   string
		size   int
		object bool
	}{
		{"empty", 0, false},
		{"at the limit", publish.InlineLimit, false},
		{"over the limit", publish.InlineLimit + 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := publish.Delivery{Merchant: "m1", Receipt: "receipt-" + strings.ReplaceAll(tt.name, " ", "-"), Data: "Category",
				Format: "csv", ContractVersion: "1.0", ForeignKey: "fk", SkipErrors: true, Gzip: true, Description: "test"}
			body := bytes.Repeat([]byte("x"), tt.size)
			pub, err := publish.Publish(ctx, js, d, bytes.NewReader(body))
			require.NoError(t, err)
			require.Equal(t, int64(tt.size), pub.Size)
			require.False(t, pub.Duplicate)

			msg, err := deliveries.GetMsg(ctx, pub.Sequence)
			require.NoError(t, err)
			require.Equal(t, "import.deliveries.m1", msg.Subject)
			want := nats.Header{
				"Nats-Msg-Id": {"m1." + d.Receipt}, "Import-Data": {"Category"}, "Import-Format": {"csv"},
				"Import-Contract-Version": {"1.0"}, "Import-Foreign-Key": {"fk"}, "Import-Skip-Errors": {"true"},
				"Content-Encoding": {"gzip"}, "Nats-Expected-Stream": {"IMPORT_DELIVERIES"},
			}
			if !tt.object {
				require.Empty(t, pub.Object)
				require.Equal(t, want, msg.Header)
				require.Equal(t, len(body), len(msg.Data))
				return
			}
			require.True(t, strings.HasPrefix(pub.Object, "m1."+d.Receipt+"."), pub.Object)
			require.Len(t, strings.TrimPrefix(pub.Object, "m1."+d.Receipt+"."), 32)
			want["Import-Object"] = []string{pub.Object}
			require.Equal(t, want, msg.Header)
			require.Empty(t, msg.Data)
			obs, err := js.ObjectStore(ctx, publish.BucketPayloads)
			require.NoError(t, err)
			r, err := obs.Get(ctx, pub.Object)
			require.NoError(t, err)
			got, err := io.ReadAll(r)
			require.NoError(t, err)
			require.Equal(t, body, got)
			info, err := r.Info()
			require.NoError(t, err)
			require.Equal(t, "test", info.Description)
		})
	}
}

// TestPublishDefaults leaves every optional header out, for importd to
// apply its defaults.
func TestPublishDefaults(t *testing.T) {
	require.Equal(t, nats.Header{"Nats-Msg-Id": {"m1.r0000001"}}, publish.Delivery{Merchant: "m1", Receipt: "r0000001"}.Header())
}

func TestPublishRefused(t *testing.T) {
	t.Parallel()
	ns := testenv.NATS(t)
	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err = publish.Publish(ctx, js, publish.Delivery{Merchant: "m.1", Receipt: "r0000001"}, strings.NewReader("{}"))
	require.ErrorContains(t, err, `publish: invalid merchant "m.1"`)
	_, err = publish.Publish(ctx, js, publish.Delivery{Merchant: "m1", Receipt: "short"}, strings.NewReader("{}"))
	require.ErrorContains(t, err, `receipt "short"`)

	// A server importd has not provisioned: said so, for both paths.
	_, err = publish.Publish(ctx, js, publish.Delivery{Merchant: "m1", Receipt: "r0000001"}, strings.NewReader("{}"))
	require.ErrorContains(t, err, "has importd provisioned this NATS server?")
	_, err = publish.Publish(ctx, js, publish.Delivery{Merchant: "m1", Receipt: "r0000001"}, bytes.NewReader(make([]byte, publish.InlineLimit+1)))
	require.ErrorContains(t, err, "object store IMPORT_PAYLOADS does not exist")
}

func TestObjectName(t *testing.T) {
	a, b := publish.ObjectName("m1", "r0000001"), publish.ObjectName("m1", "r0000001")
	require.NotEqual(t, a, b, "each publication's body has a name of its own")
	require.True(t, publish.ObjectOfMerchant(a, "m1"))
	require.False(t, publish.ObjectOfMerchant(a, "m"))
	require.False(t, publish.ObjectOfMerchant("m1.", "m1"))
	require.False(t, publish.ObjectOfMerchant("x", ""))
	require.True(t, publish.ValidReceipt(publish.NewReceipt()))
}
