package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
)

// TestDuplicates feeds the pipeline the same things more than once:
//   - the main delivery published 4 times at once and a small one 50 times
//     at once (the same Nats-Msg-Id): JetStream drops the copies within its
//     duplicate window, ingest must ignore the others;
//   - both published again after the duplicate window (set to 1s for the
//     purpose): JetStream stores them again, ingest must ignore them;
//   - resource events on CATALOG_EVENTS published twice, for the late
//     category and type while the importer announces them too, and for
//     imported products;
//   - work messages handled twice: the first 30 published on the work
//     subjects are published again (new message ids) once half the records
//     are imported, as a redelivery after a lost ack would hand them over;
//   - handlers slower than the ack wait: the roles run with
//     IMPORTD_ACK_WAIT=1s and a trigger makes some statements sleep 1.5s
//     (the handlers keep their messages alive, so these are not
//     redelivered, which the redelivery count shows).
//
// The audit must find nothing doubled.
func TestDuplicates(t *testing.T) {
	h := newHarness(t, harnessConfig{DBURL: testenv.DBURL(t), NATSURL: testenv.NATS(t).ClientURL(), Env: []string{"IMPORTD_ACK_WAIT=1s"}})
	ctx := context.Background()
	maxSleeps := 4 + 3**flagKills
	// Every 20th statement writing tracking events, not a random 5%: a fast
	// run of 10,000 records writes events in about 125 statements, and once
	// none of them drew a sleep.
	_, err := h.pool.Exec(ctx, fmt.Sprintf(`CREATE SEQUENCE fault_calls; CREATE SEQUENCE fault_sleeps;
		CREATE FUNCTION fault_slow() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF nextval('fault_calls') %% 20 = 10 AND nextval('fault_sleeps') <= %d THEN
				PERFORM pg_sleep(1.5);
			END IF;
			RETURN NULL;
		END $$;
		CREATE TRIGGER fault_slow AFTER INSERT ON tracking_events FOR EACH STATEMENT EXECUTE FUNCTION fault_slow();`, maxSleeps))
	require.NoError(t, err)

	// Count the messages published on the work subjects, to tell deliveries
	// from redeliveries at the end.
	var published [2]atomic.Int64
	var mu sync.Mutex
	var firstWork []*nats.Msg // the first work messages, to publish again
	capturing := true
	sub, err := h.nc.Subscribe("import.work.>", func(m *nats.Msg) {
		if strings.HasPrefix(m.Subject, "import.work.resolve.") {
			published[0].Add(1)
		} else {
			published[1].Add(1)
		}
		mu.Lock()
		defer mu.Unlock()
		// Once each: a message published again with its id (a resolver
		// redoing a batch) passes here again though JetStream dropped it.
		if capturing && len(firstWork) < 30 && !slices.ContainsFunc(firstWork, func(f *nats.Msg) bool {
			return f.Header.Get(nats.MsgIdHdr) == m.Header.Get(nats.MsgIdHdr)
		}) {
			firstWork = append(firstWork, m)
		}
	})
	require.NoError(t, err)
	defer sub.Unsubscribe() //nolint:errcheck

	w := newWorkload("dups", *flagRecords)
	w.copies, w.small, w.smallCopies = 4, 600, 50
	h.pipeline()
	valid, _ := w.expected()
	var republished, lateEvents, productEvents bool
	workAgain := 0
	h.drive(w, func(ctx context.Context, p progress) {
		switch {
		case workAgain == 0 && p.imported > valid/2:
			mu.Lock()
			again := firstWork
			capturing = false
			mu.Unlock()
			for _, m := range again {
				msg := nats.NewMsg(m.Subject)
				msg.Data = m.Data
				msg.Header.Set(nats.MsgIdHdr, m.Header.Get(nats.MsgIdHdr)+".again")
				ack, err := h.js.PublishMsg(ctx, msg)
				require.NoError(t, err)
				require.False(t, ack.Duplicate, "a new message id")
				workAgain++
			}
			h.fault("%d work messages published again after they were handled, as a redelivery would hand them over", workAgain)
		case !republished && p.imported > valid/10:
			republished = true
			h.republishAfterWindow(ctx, w)
		case !lateEvents:
			var n int
			if h.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM catalog_categories WHERE key = 'cat-late')
				+ (SELECT count(*) FROM catalog_product_types WHERE key = 'pt-late')`).Scan(&n) == nil && n == 2 {
				lateEvents = true
				h.announceTwice(ctx, w, catalog.Category, "cat-late", "cat-late-root")
				h.announceTwice(ctx, w, catalog.ProductType, "pt-late")
			}
		case !productEvents && p.imported > valid*2/3:
			productEvents = true
			var keys []string
			rows, err := h.pool.Query(ctx, `SELECT key FROM catalog_products ORDER BY random() LIMIT 100`)
			require.NoError(t, err)
			for rows.Next() {
				var k string
				require.NoError(t, rows.Scan(&k))
				keys = append(keys, k)
			}
			require.NoError(t, rows.Err())
			h.announceTwice(ctx, w, catalog.Product, keys...)
		}
	})
	var sleeps int64
	require.NoError(t, h.pool.QueryRow(ctx, `SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM fault_sleeps`).Scan(&sleeps))
	sleeps = min(sleeps, int64(maxSleeps))
	redelivered := h.redeliveries(ctx, published[0].Load(), published[1].Load())
	h.faultN(int(sleeps), "%d statements made slower (1.5s) than the ack wait (1s)", sleeps)
	require.Positive(t, sleeps, "no slow statement was injected")
	require.Positive(t, workAgain, "no work message was published again")
	h.verify(w, fmt.Sprintf("4+50 copies, 2 late copies, events x2, %d work messages x2, %d slow stmts, %d redeliveries", workAgain, sleeps, redelivered))
}

// republishAfterWindow sets the duplicate window of IMPORT_DELIVERIES to
// about a second, publishes the main and the small delivery again once it
// has passed (JetStream stores them: they are new messages to it), and
// restores the window. Ingest must recognise the receipts and ignore both.
//
// nats-server applies a new window when its dedupe timer next fires, which
// it resets on the update; the timer can fire before the new window is in
// place and then wait for the old one, so the window is set again (a
// millisecond longer) until the republication is stored.
func (h *harness) republishAfterWindow(ctx context.Context, w *workload) {
	t := h.t
	s, err := h.js.Stream(ctx, bus.StreamDeliveries)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	cfg := info.Config
	window := cfg.Duplicates
	stored := map[string]bool{}
	for attempt := 0; attempt < 10 && !(stored["products"] && stored["small"]); attempt++ {
		cfg.Duplicates = time.Second + time.Duration(attempt)*time.Millisecond
		_, err = h.js.UpdateStream(ctx, cfg)
		require.NoError(t, err, "shrinking the duplicate window")
		time.Sleep(1500 * time.Millisecond)
		for name, body := range map[string]func() *products{
			"products": func() *products { return &products{prefix: "p", n: w.n} },
			"small":    func() *products { return &products{prefix: "s", n: w.small} },
		} {
			if stored[name] {
				continue
			}
			dup, err := h.publish(ctx, w, name, "Product", body())
			require.NoError(t, err)
			stored[name] = !dup
		}
	}
	cfg.Duplicates = window
	_, err = h.js.UpdateStream(ctx, cfg)
	require.NoError(t, err, "restoring the duplicate window")
	require.True(t, stored["products"] && stored["small"], "after the duplicate window JetStream stores a republished receipt again")
	h.fault("main and small deliveries published again after the duplicate window (stored again by JetStream)")
}

// announceTwice publishes a resource event for each key twice, as another
// system that retries would.
func (h *harness) announceTwice(ctx context.Context, w *workload, rt catalog.ResourceType, keys ...string) {
	for _, k := range keys {
		body, _ := json.Marshal(bus.ResourceEvent{TypeID: rt.TypeID(), Key: k})
		for range 2 {
			_, err := h.js.Publish(ctx, bus.CatalogSubject(w.merchant, string(rt), "created"), body)
			require.NoError(h.t, err)
		}
	}
	h.fault("%d %s events published twice on %s", len(keys), rt, bus.StreamCatalog)
}

// redeliveries estimates how many messages were delivered more than once:
// per consumer, deliveries (the consumer sequence) minus distinct messages.
func (h *harness) redeliveries(ctx context.Context, resolvePublished, applyPublished int64) int64 {
	count := func(stream, consumer string) uint64 {
		c, err := h.js.Consumer(ctx, stream, consumer)
		require.NoError(h.t, err)
		info, err := c.Info(ctx)
		require.NoError(h.t, err)
		return info.Delivered.Consumer
	}
	s, err := h.js.Stream(ctx, bus.StreamDeliveries)
	require.NoError(h.t, err)
	dinfo, err := s.Info(ctx)
	require.NoError(h.t, err)
	ingest := int64(count(bus.StreamDeliveries, bus.ConsumerIngest)) - int64(dinfo.State.LastSeq) // ingest removes what it has read
	resolve := int64(count(bus.StreamWork, bus.ConsumerResolve)) - resolvePublished
	apply := int64(count(bus.StreamWork, bus.ConsumerApply)) - applyPublished
	h.t.Logf("faults: redeliveries (deliveries minus messages, a lower bound): ingest %d, resolve %d, apply %d", ingest, resolve, apply)
	return max(ingest, 0) + max(resolve, 0) + max(apply, 0)
}
