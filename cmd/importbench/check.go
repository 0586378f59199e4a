package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// stages derives the stage timings from the tracking events' timestamps.
func (b *bench) stages(ctx context.Context, r *Result) error {
	stage := func(name, by string, count int64, from, to time.Time) Stage {
		s := Stage{Name: name, MeasuredBy: by, Count: count,
			StartSec: round(from.Sub(b.t0).Seconds(), 3), EndSec: round(to.Sub(b.t0).Seconds(), 3)}
		s.Seconds = round(to.Sub(from).Seconds(), 3)
		if s.Seconds > 0 {
			s.PerSec = round(float64(count)/to.Sub(from).Seconds(), 1)
		}
		return s
	}
	var firstReceived, lastIngested time.Time
	var received int64
	if err := b.pool.QueryRow(ctx, `SELECT min(ts), count(*) FROM tracking_events WHERE receipt_id = ANY($1) AND code = 2000`, b.receipts).
		Scan(&firstReceived, &received); err != nil {
		return fmt.Errorf("stages: %w", err)
	}
	if err := b.pool.QueryRow(ctx, `SELECT max(ingested_at) FROM deliveries WHERE receipt_id = ANY($1)`, b.receipts).Scan(&lastIngested); err != nil {
		return fmt.Errorf("stages: %w", err)
	}
	r.Stages = append(r.Stages, stage("ingest", "first RecordReceived (2000) to the last deliveries.ingested_at", received, firstReceived, lastIngested))
	for _, s := range []struct {
		name, by string
		codes    []int
	}{
		{"resolve", "first to last Resolved or Unresolved (2104, 2101): the first pass of every valid record", []int{2101, 2104}},
		{"import", "first to last Imported/ImportedUnchanged/PartiallyImported (2201-2203)", []int{2201, 2202, 2203}},
	} {
		var n int64
		var from, to *time.Time
		if err := b.pool.QueryRow(ctx, `SELECT count(*), min(ts), max(ts) FROM tracking_events WHERE receipt_id = ANY($1) AND code = ANY($2)`, b.receipts, s.codes).
			Scan(&n, &from, &to); err != nil {
			return fmt.Errorf("stages: %w", err)
		}
		if from == nil {
			r.Stages = append(r.Stages, Stage{Name: s.name, MeasuredBy: s.by})
			continue
		}
		r.Stages = append(r.Stages, stage(s.name, s.by, n, *from, *to))
	}
	return nil
}

// expected is what the generated load should become.
type expected struct {
	kinds                 []kind
	valid, invalid, late  int64
	variants              int64
	importedOrPartiallyOK int64
}

func (b *bench) expected() expected {
	e := expected{kinds: make([]kind, b.o.Records)}
	for i := range e.kinds {
		k := b.g.kindOf(i)
		e.kinds[i] = k
		switch k {
		case kindValid:
			e.valid++
		case kindInvalid:
			e.invalid++
		case kindLate:
			e.late++
		}
		if k != kindInvalid {
			e.variants += int64(b.g.variantsOf(i))
		}
	}
	return e
}

// check verifies that every record of the main load ended in the state it
// should, exactly once.
func (b *bench) check(ctx context.Context, r *Result) error {
	e := b.expected()
	r.Load.Valid, r.Load.Invalid, r.Load.Late, r.Load.Variants = int(e.valid), int(e.invalid), int(e.late), int(e.variants)
	c := &r.Correctness
	n := int64(b.o.Records)

	// Operations per delivery: as many as records, none twice.
	for d, rec := range b.receipts {
		var ops, seqs, keys int64
		if err := b.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT seq), count(DISTINCT resource_key) FROM operations WHERE receipt_id = $1`, rec).
			Scan(&ops, &seqs, &keys); err != nil {
			return err
		}
		c.expect(fmt.Sprintf("delivery %d: operations", d), int64(b.sizes[d]), ops)
		c.expect(fmt.Sprintf("delivery %d: distinct positions", d), int64(b.sizes[d]), seqs)
		c.expect(fmt.Sprintf("delivery %d: distinct keys", d), int64(b.sizes[d]), keys)
	}

	// Every operation in its state.
	seen := make([]uint8, b.o.Records)
	var wrongState, foreign int64
	rows, err := b.pool.Query(ctx, `SELECT resource_key, state FROM operations WHERE receipt_id = ANY($1)`, b.receipts)
	if err != nil {
		return err
	}
	for rows.Next() {
		var key, state string
		if err := rows.Scan(&key, &state); err != nil {
			rows.Close()
			return err
		}
		i, err := strconv.Atoi(strings.TrimPrefix(key, "bp-"))
		if err != nil || !strings.HasPrefix(key, "bp-") || i < 0 || i >= b.o.Records {
			foreign++
			continue
		}
		if seen[i] < 255 {
			seen[i]++
		}
		switch e.kinds[i] {
		case kindValid, kindLate:
			if state != "imported" && state != "partiallyImported" {
				wrongState++
			}
		case kindInvalid:
			if state != "validationFailed" {
				wrongState++
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var once, missing, twice int64
	for _, s := range seen {
		switch s {
		case 0:
			missing++
		case 1:
			once++
		default:
			twice++
		}
	}
	c.expect("records with exactly one operation", n, once)
	c.expect("records without an operation", 0, missing)
	c.expect("records with more than one operation", 0, twice)
	c.expect("operations of unknown records", 0, foreign)
	c.expect("operations in the wrong state", 0, wrongState)

	// Late records were parked, then released.
	var parked, parkedLate int64
	rows, err = b.pool.Query(ctx, `SELECT DISTINCT product_id FROM tracking_events WHERE receipt_id = ANY($1) AND code = 2101`, b.receipts)
	if err != nil {
		return err
	}
	for rows.Next() {
		var key string
		if err := rows.Scan(&key); err != nil {
			rows.Close()
			return err
		}
		parked++
		if i, err := strconv.Atoi(strings.TrimPrefix(key, "bp-")); err == nil && i >= 0 && i < b.o.Records && e.kinds[i] == kindLate {
			parkedLate++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	c.expect("late records parked (Unresolved 2101)", e.late, parkedLate)
	c.expect("records parked in all", e.late, parked)

	// Tracking events: one of each milestone per record.
	codes := map[int]int64{}
	rows, err = b.pool.Query(ctx, `SELECT code, count(*) FROM tracking_events WHERE receipt_id = ANY($1) AND product_id IS NOT NULL GROUP BY code`, b.receipts)
	if err != nil {
		return err
	}
	for rows.Next() {
		var code int
		var cnt int64
		if err := rows.Scan(&code, &cnt); err != nil {
			rows.Close()
			return err
		}
		codes[code] = cnt
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	c.expect("RecordReceived events (2000)", n, codes[2000])
	c.expect("ValidationFailed events (2001)", e.invalid, codes[2001])
	c.expect("Resolved events (2104)", e.valid, codes[2104])
	c.expect("ReferenceResolved events (2102, the late records released)", e.late, codes[2102])
	c.expect("Imported events (2201-2203)", e.valid+e.late, codes[2201]+codes[2202]+codes[2203])
	c.expect("Rejected, refused, canceled, expired events", 0, codes[2204]+codes[2205]+codes[2300]+codes[2301])
	var importedKeys int64
	if err := b.pool.QueryRow(ctx, `SELECT count(DISTINCT product_id) FROM tracking_events WHERE receipt_id = ANY($1) AND code IN (2201, 2202, 2203)`, b.receipts).
		Scan(&importedKeys); err != nil {
		return err
	}
	c.expect("records with an import event", e.valid+e.late, importedKeys)

	// The delivery counters agree.
	p, err := b.progress(ctx, b.receipts)
	if err != nil {
		return err
	}
	c.expect("delivery_counts total", n, p.total)
	c.expect("delivery_counts successful", e.valid+e.late, p.successful)
	c.expect("delivery_counts failed", e.invalid, p.failed)
	c.expect("delivery_counts pending", 0, p.unresolved+p.otherPending)
	c.expect("deliveries complete", int64(len(b.receipts)), int64(p.completed))

	// The catalog holds each valid product once, with its variants.
	var products, variants, prices int64
	if err := b.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM catalog_products WHERE merchant_id = $1),
		(SELECT count(*) FROM catalog_variants WHERE merchant_id = $1), (SELECT count(*) FROM catalog_prices WHERE merchant_id = $1)`, merchantMain).
		Scan(&products, &variants, &prices); err != nil {
		return err
	}
	c.expect("catalog products (distinct valid keys)", e.valid+e.late, products)
	c.expect("catalog variants", e.variants, variants)

	// The small deliveries: every record imported.
	if r.Fairness.Deliveries > 0 {
		var smallOps, smallOK int64
		if err := b.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state IN ('imported', 'partiallyImported'))
			FROM operations WHERE merchant_id = $1 AND receipt_id LIKE 'small-%'`, merchantSmall).Scan(&smallOps, &smallOK); err != nil {
			return err
		}
		want := int64(r.Fairness.Deliveries * b.o.FairRecords)
		c.expect("small deliveries: operations", want, smallOps)
		c.expect("small deliveries: imported", want, smallOK)
	}
	c.finish()
	return nil
}
