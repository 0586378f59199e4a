package faults

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

// workload is the mixed delivery every fault test imports, for one merchant:
//
//   - early:  a ProductType and a Category delivery, completed before the rest;
//   - main:   n products: most reference the early type and category, a
//     tenth the late product type and a tenth the late category (they
//     park), one in twenty has no slug (validationFailed), and some repeat
//     the key of an earlier record of the delivery, in the same batch or
//     an earlier one (validationFailed as duplicates);
//   - late:   the late ProductType and two Categories (a parent and the late
//     category), published while the main delivery is being imported:
//     the parked products are released.
//
// Every delivery skips errors (Import-Skip-Errors: true), so the 10%
// threshold never cancels anything: every valid product must end imported,
// every other record validationFailed, and nothing may be doubled.
type workload struct {
	merchant    string
	n           int
	tag         string // receipt prefix
	small       int    // records of an extra product delivery "small" (keys s-…), 0 for none
	copies      int    // publications of the main delivery, at once (same receipt); 0 for 1
	smallCopies int    // publications of the small delivery, at once
}

func newWorkload(tag string, n int) *workload {
	return &workload{merchant: "m1", n: n, tag: tag}
}

type recordKind int

const (
	kindEarly recordKind = iota
	kindLateType
	kindLateCategory
	kindInvalid   // no slug
	kindDuplicate // repeats the key of dupOf(i)
)

func kindOf(i int) recordKind {
	switch {
	case i%20 == 7:
		return kindInvalid
	case i%50 == 13, i%1000 == 999:
		return kindDuplicate
	case i%10 == 3:
		return kindLateType
	case i%10 == 6:
		return kindLateCategory
	}
	return kindEarly
}

// dupOf is the earlier record whose key record i repeats: the previous one
// (same batch of 1000, mostly) or the one 600 before (often another batch).
// Neither is itself invalid or a duplicate.
func dupOf(i int) int {
	if i%1000 == 999 {
		return i - 600
	}
	return i - 1
}

func (w *workload) receipt(name string) string { return w.tag + "-" + name }

func (w *workload) mainReceipt() string { return w.receipt("products") }

// receipts lists every delivery of the workload.
func (w *workload) receipts() []string {
	r := []string{w.receipt("early-types"), w.receipt("early-categories"), w.mainReceipt(), w.receipt("late-types"), w.receipt("late-categories")}
	if w.small > 0 {
		r = append(r, w.receipt("small"))
	}
	return r
}

// expected counts of the main delivery.
func (w *workload) expected() (valid, invalid int) { return expected(w.n) }

// expected counts of a product delivery of n records.
func expected(n int) (valid, invalid int) {
	for i := 0; i < n; i++ {
		switch kindOf(i) {
		case kindInvalid, kindDuplicate:
			invalid++
		default:
			valid++
		}
	}
	return valid, invalid
}

// products generates the main delivery's body on the fly.
type products struct {
	prefix string // of the keys: "p" for the main delivery
	n, i   int
	buf    []byte // generated, not yet read
}

func (p *products) Read(b []byte) (int, error) {
	for len(p.buf) < len(b) && p.i < p.n {
		p.buf = append(p.buf, productLine(p.prefix, p.i)...)
		p.i++
	}
	if len(p.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.buf)
	p.buf = p.buf[:copy(p.buf, p.buf[n:])]
	return n, nil
}

func productLine(prefix string, i int) []byte {
	key, pt, cat, slug := fmt.Sprintf("%s-%d", prefix, i), "pt-early", "cat-early", fmt.Sprintf(`,"slug":{"en":"%s-%d"}`, prefix, i)
	switch kindOf(i) {
	case kindLateType:
		pt = "pt-late"
	case kindLateCategory:
		cat = "cat-late"
	case kindInvalid:
		slug = ""
	case kindDuplicate:
		key = fmt.Sprintf("%s-%d", prefix, dupOf(i))
	}
	return fmt.Appendf(nil, `{"key":%q,"productType":{"key":%q},"name":{"en":"Product %d","de":"Produkt %d"}%s,"categories":[{"key":%q}],`+
		`"masterVariant":{"sku":"%s-m","prices":[{"value":{"currencyCode":"EUR","centAmount":%d}}]}}`+"\n",
		key, pt, i, i, slug, cat, key, 100+i%9000)
}

// publish publishes a delivery (inline or through the object store) and
// says whether JetStream took it as a duplicate.
func (h *harness) publish(ctx context.Context, w *workload, name, data string, body io.Reader) (bool, error) {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	res, err := bus.PublishDelivery(pctx, h.js, bus.Delivery{Merchant: w.merchant, Receipt: w.receipt(name), Data: data, SkipErrors: true}, body)
	return res.Duplicate, err
}

func (h *harness) publishText(ctx context.Context, w *workload, name, data string, lines ...string) error {
	_, err := h.publish(ctx, w, name, data, strings.NewReader(strings.Join(lines, "\n")))
	return err
}

// publishEarly publishes the early type and category and waits until both
// are imported.
func (h *harness) publishEarly(ctx context.Context, w *workload) {
	h.t.Helper()
	require.NoError(h.t, retry(ctx, func() error {
		return h.publishText(ctx, w, "early-types", "ProductType", `{"key":"pt-early","name":"Early type"}`)
	}))
	require.NoError(h.t, retry(ctx, func() error {
		return h.publishText(ctx, w, "early-categories", "Category", `{"key":"cat-early","name":{"en":"Early"},"slug":{"en":"early"}}`)
	}))
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	require.NoError(h.t, h.waitCompleted(wctx, w.receipt("early-types"), w.receipt("early-categories")))
}

// publishMain publishes the main delivery (and the small one), each as
// many times at once as the workload says. JetStream drops only the copies
// within its short duplicate window; ingest must see one delivery each.
func (h *harness) publishMain(ctx context.Context, w *workload) {
	h.t.Helper()
	if w.copies <= 1 && w.small == 0 {
		require.NoError(h.t, retry(ctx, func() error {
			_, err := h.publish(ctx, w, "products", "Product", &products{prefix: "p", n: w.n})
			return err
		}))
		return
	}
	type pub struct {
		name string
		dup  bool
		err  error
	}
	results := make(chan pub)
	n := 0
	for range max(w.copies, 1) {
		n++
		go func() {
			dup, err := h.publish(ctx, w, "products", "Product", &products{prefix: "p", n: w.n})
			results <- pub{"products", dup, err}
		}()
	}
	for range max(w.smallCopies, 1) {
		if w.small == 0 {
			break
		}
		n++
		go func() {
			dup, err := h.publish(ctx, w, "small", "Product", &products{prefix: "s", n: w.small})
			results <- pub{"small", dup, err}
		}()
	}
	stored := map[string]int{}
	for range n {
		r := <-results
		require.NoError(h.t, r.err, "publishing %s", r.name)
		if !r.dup {
			stored[r.name]++
		}
	}
	h.faultN(n-len(stored), "main delivery published %d times at once, the small one %d times: stored %v", max(w.copies, 1), max(w.smallCopies, 1), stored)
	want := map[string]int{"products": 1}
	if w.small > 0 {
		want["small"] = 1
	}
	for name := range want {
		require.Positive(h.t, stored[name], "%s stored by JetStream", name)
	}
}

// publishLate publishes the late type and categories.
func (h *harness) publishLate(ctx context.Context, w *workload) error {
	if err := h.publishText(ctx, w, "late-types", "ProductType", `{"key":"pt-late","name":"Late type"}`); err != nil {
		return err
	}
	return h.publishText(ctx, w, "late-categories", "Category",
		`{"key":"cat-late-root","name":{"en":"Late root"},"slug":{"en":"late-root"}}`,
		`{"key":"cat-late","name":{"en":"Late"},"slug":{"en":"late"},"parent":{"key":"cat-late-root"}}`)
}

// drive runs the workload: early deliveries, then the main one, the late
// ones once a third of the products are imported, calling tick with the
// main delivery's progress every 50ms until every delivery is completed.
// tick injects the test's faults; it runs on this goroutine.
func (h *harness) drive(w *workload, tick func(ctx context.Context, p progress)) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline(w.n))
	defer cancel()
	h.publishEarly(ctx, w)
	h.publishMain(ctx, w)
	valid, _ := w.expected()
	late, lateDone := false, false
	var lateAt time.Time
	var last progress
	lastLog := time.Now()
	for {
		p, err := h.progress(ctx, w.mainReceipt())
		if err == nil {
			last = p
			if !late && p.imported >= valid/3 {
				if err := h.publishLate(ctx, w); err == nil {
					late, lateAt = true, time.Now()
					h.t.Logf("faults: +%s late types and categories published (%d imported, %d parked)",
						time.Since(h.start).Round(time.Millisecond), p.imported, p.parked)
				}
			}
		}
		if late && !lateDone {
			var n int
			if h.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE receipt_id = any($1) AND completed_at IS NOT NULL`,
				[]string{w.receipt("late-types"), w.receipt("late-categories")}).Scan(&n) == nil && n == 2 {
				lateDone = true
				// Fairness: a small delivery completes in seconds while a large one is processing.
				h.t.Logf("faults: +%s the late deliveries (3 records) completed %s after publication (main delivery: %d of %d imported)",
					time.Since(h.start).Round(time.Millisecond), time.Since(lateAt).Round(time.Millisecond), last.imported, valid)
			}
		}
		if tick != nil {
			tick(ctx, last)
		}
		if late && err == nil && p.completed {
			if h.waitCompleted(ctx, w.receipts()...) == nil {
				break
			}
		}
		if time.Since(lastLog) > 15*time.Second {
			lastLog = time.Now()
			h.t.Logf("faults: +%s progress %+v", time.Since(h.start).Round(time.Second), last)
		}
		if ctx.Err() != nil {
			h.t.Fatalf("the workload did not complete within %s; last progress %+v", deadline(w.n), last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Logf("faults: +%s every delivery completed", time.Since(h.start).Round(time.Millisecond))
}

// verify checks the outcome of the workload record by record: every
// operation in its right end state, one operation per record, one catalog
// row per distinct valid key; then runs the audit.
func (h *harness) verify(w *workload, what string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	valid, invalid := w.expected()
	type count struct{ ops, distinct, imported, failed, other int }
	get := func(receipt string) count {
		var c count
		require.NoError(h.t, h.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT seq),
				count(*) FILTER (WHERE state = 'imported'), count(*) FILTER (WHERE state = 'validationFailed'),
				count(*) FILTER (WHERE state NOT IN ('imported', 'validationFailed'))
			FROM operations WHERE receipt_id = $1`, receipt).Scan(&c.ops, &c.distinct, &c.imported, &c.failed, &c.other))
		return c
	}
	main := get(w.mainReceipt())
	require.Equal(h.t, count{ops: w.n, distinct: w.n, imported: valid, failed: invalid}, main, "main delivery: one operation per record, each in its right end state")
	if w.small > 0 {
		sv, si := expected(w.small)
		require.Equal(h.t, count{ops: w.small, distinct: w.small, imported: sv, failed: si}, get(w.receipt("small")), "small delivery")
		valid += sv
	}
	for name, n := range map[string]int{"early-types": 1, "early-categories": 1, "late-types": 1, "late-categories": 2} {
		require.Equal(h.t, count{ops: n, distinct: n, imported: n}, get(w.receipt(name)), "delivery %s", name)
	}
	// Every valid record of the main delivery is in the catalog once, with
	// its master variant; the invalid ones and the duplicates are not.
	var products, variants, wrongName, types, categories int
	require.NoError(h.t, h.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM catalog_products WHERE merchant_id = $1),
			(SELECT count(*) FROM catalog_variants WHERE merchant_id = $1 AND is_master),
			(SELECT count(*) FROM catalog_products WHERE merchant_id = $1 AND data->'name'->>'en' <> 'Product ' || substr(key, 3)),
			(SELECT count(*) FROM catalog_product_types WHERE merchant_id = $1),
			(SELECT count(*) FROM catalog_categories WHERE merchant_id = $1)`, w.merchant).
		Scan(&products, &variants, &wrongName, &types, &categories))
	require.Equal(h.t, valid, products, "catalog products = distinct valid keys")
	require.Equal(h.t, valid, variants, "one master variant per product")
	require.Zero(h.t, wrongName, "products whose content is not their own record's (a duplicate written over it)")
	require.Equal(h.t, 2, types)
	require.Equal(h.t, 3, categories)
	// One import event per imported operation, across every delivery.
	var importEvents, importedOps int
	require.NoError(h.t, h.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM tracking_events WHERE code IN (2201, 2202, 2206)),
			(SELECT count(*) FROM operations WHERE state = 'imported')`).Scan(&importEvents, &importedOps))
	require.Equal(h.t, importedOps, importEvents, "one Imported event per imported operation")
	if h.checkInputs {
		h.verifyInputs(ctx, w)
	}
	h.requireNoCrashes()
	h.audit(what)
}

// verifyInputs checks that every delivery of the workload settled: its
// message removed from IMPORT_DELIVERIES, none of the merchant's left
// there, and its body kept in IMPORT_INPUTS, the main delivery's byte for
// byte as published.
func (h *harness) verifyInputs(ctx context.Context, w *workload) {
	h.t.Helper()
	receipts := w.receipts()
	var settled int
	require.Eventually(h.t, func() bool {
		err := h.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries
			WHERE receipt_id = ANY($1) AND message_removed_at IS NOT NULL`, receipts).Scan(&settled)
		return err == nil && settled == len(receipts)
	}, 3*time.Minute, 100*time.Millisecond, "every delivery settled: %d of %d", settled, len(receipts))
	rows, err := h.pool.Query(ctx, `SELECT receipt_id, coalesce(inputs_state, '') FROM deliveries WHERE receipt_id = ANY($1)`, receipts)
	require.NoError(h.t, err)
	states, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Receipt, State string }])
	require.NoError(h.t, err)
	for _, st := range states {
		require.Equal(h.t, tracking.InputsKept, st.State, "the body of %s", st.Receipt)
	}
	s, err := h.js.Stream(ctx, bus.StreamDeliveries)
	require.NoError(h.t, err)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(bus.DeliverySubject(w.merchant)))
	require.NoError(h.t, err)
	require.Zero(h.t, info.State.Subjects[bus.DeliverySubject(w.merchant)], "messages of %s left in %s", w.merchant, bus.StreamDeliveries)

	body, size, err := bus.NewBodies(h.js).OpenKept(ctx, w.merchant, w.mainReceipt())
	require.NoError(h.t, err)
	defer body.Close()
	kept, want := sha256.New(), sha256.New()
	n, err := io.Copy(kept, body)
	require.NoError(h.t, err)
	require.Equal(h.t, size, n)
	_, err = io.Copy(want, &products{prefix: "p", n: w.n})
	require.NoError(h.t, err)
	require.Equal(h.t, want.Sum(nil), kept.Sum(nil), "the main delivery's kept body is the one published")
}
