package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/importer"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/resolver"
	"github.com/importd/importd/tracking"
)

// smallPayload is the max payload of the NATS server of the size tests:
// small enough that a few records of a delivery are over it together.
const smallPayload = 64 << 10

// randomText is n letters S2 cannot compress: the work messages carrying
// them are as large as the records.
func randomText(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(rng.IntN(26))
	}
	return string(b)
}

// bigProduct is a product of about size bytes (its description) in the
// given categories.
func bigProduct(rng *rand.Rand, key, productType string, size int, categories ...string) string {
	cats := make([]string, len(categories))
	for i, c := range categories {
		cats[i] = fmt.Sprintf(`{"key":%q}`, c)
	}
	var desc []string
	for lang := 0; size > 0; lang++ {
		n := min(size, 60000)
		desc = append(desc, fmt.Sprintf(`%q:%q`, []string{"en", "de", "fr", "it"}[lang], randomText(rng, n)))
		size -= n
	}
	return fmt.Sprintf(`{"key":%q,"productType":{"key":%q},"name":{"en":%q},"slug":{"en":%q},"description":{%s},"categories":[%s],"masterVariant":{"sku":"sku-%s"}}`,
		key, productType, key, key, strings.Join(desc, ","), strings.Join(cats, ","), key)
}

// deliverChunked publishes records as a delivery whose body is in the
// object store in chunks the small server carries.
func (e *env) deliverChunked(merchant, receipt string, t catalog.ResourceType, records ...string) {
	e.t.Helper()
	ctx := context.Background()
	obs, err := e.js.ObjectStore(ctx, bus.BucketPayloads)
	require.NoError(e.t, err)
	body := []byte(strings.Join(records, "\n"))
	name := bus.ObjectName(merchant, receipt)
	_, err = obs.Put(ctx, jetstream.ObjectMeta{Name: name, Opts: &jetstream.ObjectMetaOptions{ChunkSize: 16 << 10}}, bytes.NewReader(body))
	require.NoError(e.t, err)
	msg := nats.NewMsg(bus.DeliverySubject(merchant))
	msg.Header.Set(bus.HeaderMsgID, receipt)
	msg.Header.Set(bus.HeaderData, string(t))
	msg.Header.Set(bus.HeaderObject, name)
	_, err = e.js.PublishMsg(ctx, msg)
	require.NoError(e.t, err)
}

// TestOversizedReleaseDoesNotStall is the stall of issue 22 on a server
// with a 64 KiB max payload: products of about 12 KiB park on a category
// that does not exist yet, then the category is created and all of them
// are released at once, more than one message can carry. Every operation
// must reach an end state: those that fit imported, the one too large for
// any message rejected with WORK_MESSAGE_TOO_LARGE, at once and again
// when it is retried on request.
func TestOversizedReleaseDoesNotStall(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, testenv.NATSWith(t, bus.EmbeddedConfig{MaxPayload: smallPayload}))
	e.startIngest()
	e.startResolver(resolver.Config{})
	e.startImporter(importer.Config{})
	rng := rand.New(rand.NewPCG(22, 1))

	e.deliver("m1", "size-types", catalog.ProductType, productType("pt"))
	e.waitState("size-types", "pt", "imported", 30*time.Second)

	const n = 24
	var recs []string
	for i := 0; i < n; i++ {
		recs = append(recs, bigProduct(rng, fmt.Sprintf("big-%02d", i), "pt", 12<<10, "late"))
	}
	recs = append(recs, bigProduct(rng, "huge", "pt", 100<<10, "late")) // over the max payload alone
	e.deliverChunked("m1", "size-products", catalog.Product, recs...)
	for i := 0; i < n; i++ {
		e.waitState("size-products", fmt.Sprintf("big-%02d", i), "unresolved", 30*time.Second)
	}
	o := e.waitState("size-products", "huge", "rejected", 30*time.Second)
	require.Len(t, o.Errors, 1)
	require.Equal(t, catalog.SystemError, o.Errors[0].Type)
	require.Equal(t, tracking.CodeWorkMessageTooLarge, o.Errors[0].Code)
	require.Contains(t, e.events("size-products", "huge"), int(tracking.CodeRejected))

	// Released together: about 300 KiB for the importer.
	e.deliver("m1", "size-category", catalog.Category, category("late", ""))
	for i := 0; i < n; i++ {
		e.waitState("size-products", fmt.Sprintf("big-%02d", i), "imported", 60*time.Second)
	}
	require.Eventually(t, func() bool { return e.statusName("size-products") == "CompletedWithErrors" }, 30*time.Second, 10*time.Millisecond,
		"status %s", e.statusName("size-products"))
	d, err := e.store.DeliveryGet(context.Background(), "size-products")
	require.NoError(t, err)
	c, err := e.store.Counts(context.Background(), &d)
	require.NoError(t, err)
	require.EqualValues(t, n, c.Imported)
	require.EqualValues(t, 1, c.Rejected)

	// A retry on request goes through the release outbox: rejected again,
	// not published for ever.
	retried, err := e.store.Retry(context.Background(), &d)
	require.NoError(t, err)
	require.Equal(t, 1, retried)
	require.Eventually(t, func() bool {
		codes := e.events("size-products", "huge")
		rejected := 0
		for _, c := range codes {
			if c == int(tracking.CodeRejected) {
				rejected++
			}
		}
		o, _ := e.op("size-products", "huge")
		return rejected == 2 && o.State == "rejected"
	}, 30*time.Second, 10*time.Millisecond)
	var outbox int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM apply_outbox`).Scan(&outbox))
	require.Zero(t, outbox)
}

// TestMergedMasterVariantTooLarge: a product and its master variant each
// fit in a work message, but not together. Merged by the resolver, the
// product is rejected with WORK_MESSAGE_TOO_LARGE, not redelivered for ever.
func TestMergedMasterVariantTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, testenv.NATSWith(t, bus.EmbeddedConfig{MaxPayload: smallPayload}))
	e.startIngest()
	e.startResolver(noSweep)
	e.startWriter()
	rng := rand.New(rand.NewPCG(22, 2))
	e.deliver("m1", "merge-types", catalog.ProductType, productType("pt"))
	e.waitState("merge-types", "pt", "imported", 30*time.Second)

	e.deliver("m1", "merge-variant", catalog.ProductVariant,
		fmt.Sprintf(`{"sku":"desk-sku","product":{"key":"desk"},"isMasterVariant":true,"attributes":[{"name":"notes","value":%q}]}`, randomText(rng, 30<<10)))
	e.waitState("merge-variant", "desk-sku", "unresolved", 30*time.Second)
	e.deliver("m1", "merge-product", catalog.Product,
		fmt.Sprintf(`{"key":"desk","productType":{"key":"pt"},"name":{"en":"x"},"slug":{"en":"desk"},"description":{"en":%q}}`, randomText(rng, 40<<10)))
	o := e.waitState("merge-product", "desk", "rejected", 30*time.Second)
	require.Equal(t, tracking.CodeWorkMessageTooLarge, o.Errors[0].Code)
	require.Contains(t, o.Errors[0].Description, "importer")
}
