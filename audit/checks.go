package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/tracking"
)

// The checks. Each takes the delivery's receipt and time as its first two
// parameters ($1, $2) on every partitioned table it reads, so that only the
// delivery's partition is scanned, and returns only rows that break a rule.

// stages lists, per state, the stages the workers write with it:
// ingest writes processing and validationFailed at StageQueued; the
// resolver writes processing at StageResolved, unresolved and
// waitForMasterVariant at StagePickedUp, validationFailed (category
// cycles) at StagePickedUp; the importer writes processing (a failed
// attempt), imported, partiallyImported, validationFailed (TargetRefused)
// and rejected at StageResolved. Cancellation may catch an operation at any
// stage.
var stages = map[tracking.State][]tracking.Stage{
	tracking.StateProcessing:           {tracking.StageQueued, tracking.StageResolved},
	tracking.StateUnresolved:           {tracking.StagePickedUp},
	tracking.StateWaitForMasterVariant: {tracking.StagePickedUp},
	tracking.StateImported:             {tracking.StageResolved},
	tracking.StatePartiallyImported:    {tracking.StageResolved},
	tracking.StateValidationFailed:     {tracking.StageQueued, tracking.StagePickedUp, tracking.StageResolved},
	tracking.StateRejected:             {tracking.StageResolved},
	tracking.StateCanceled:             {tracking.StageQueued, tracking.StagePickedUp, tracking.StageResolved},
}

// endStates are the end states, as SQL text literals.
const endStates = `('imported', 'partiallyImported', 'validationFailed', 'rejected', 'canceled')`

// stateStageSQL is the condition "state and stage go together", from stages.
func stateStageSQL() string {
	var parts []string
	for _, s := range []tracking.State{tracking.StateProcessing, tracking.StateUnresolved, tracking.StateWaitForMasterVariant,
		tracking.StateImported, tracking.StatePartiallyImported, tracking.StateValidationFailed, tracking.StateRejected, tracking.StateCanceled} {
		var st []string
		for _, x := range stages[s] {
			st = append(st, fmt.Sprint(int(x)))
		}
		parts = append(parts, fmt.Sprintf("(state = '%s' AND stage IN (%s))", s, strings.Join(st, ", ")))
	}
	return strings.Join(parts, " OR ")
}

// checkState: every operation in one of the eight states, at a stage that
// goes with it; failed and rejected operations say why (errors).
func checkState(ctx context.Context, db database.DBTX, d delivery, _ *Summary, report func(Violation)) error {
	rows, err := db.Query(ctx, `SELECT seq, resource_key, state, stage,
			CASE WHEN jsonb_typeof(errors) = 'array' THEN jsonb_array_length(errors) > 0 ELSE false END
		FROM operations WHERE receipt_id = $1 AND delivery_at = $2
			AND (NOT (`+stateStageSQL()+`)
				OR (state IN ('validationFailed', 'rejected')
					AND NOT CASE WHEN jsonb_typeof(errors) = 'array' THEN jsonb_array_length(errors) > 0 ELSE false END))
		ORDER BY seq`, d.receipt, d.at)
	if err != nil {
		return err
	}
	var seq int
	var key, state string
	var stage int16
	var hasErrors bool
	_, err = pgx.ForEachRow(rows, []any{&seq, &key, &state, &stage, &hasErrors}, func() error {
		v := Violation{Check: CheckState, Seq: seq, Key: key}
		allowed, known := stages[tracking.State(state)]
		switch {
		case !known:
			v.Message = fmt.Sprintf("state %q is not one of the 8 operation states", state)
		case !slices.Contains(allowed, tracking.Stage(stage)):
			v.Message = fmt.Sprintf("stage %d does not go with state %s (want one of %v)", stage, state, allowed)
		default:
			v.Message = fmt.Sprintf("state %s without errors saying why", state)
		}
		report(v)
		return nil
	})
	return err
}

// checkCounts: the delivery's counters, summed over its slots, equal its
// operations counted row by row, state by state.
func checkCounts(ctx context.Context, db database.DBTX, d delivery, sum *Summary, report func(Violation)) error {
	var c, o tracking.Counts
	err := db.QueryRow(ctx, `SELECT c.*, o.* FROM
		(SELECT coalesce(sum(total), 0), coalesce(sum(queued), 0), coalesce(sum(processing), 0), coalesce(sum(unresolved), 0),
			coalesce(sum(waiting), 0), coalesce(sum(imported), 0), coalesce(sum(partially), 0),
			coalesce(sum(validation_failed), 0), coalesce(sum(rejected), 0), coalesce(sum(canceled), 0)
		 FROM delivery_counts WHERE receipt_id = $1 AND delivery_at = $2) c,
		(SELECT count(*),
			count(*) FILTER (WHERE state = 'processing' AND stage = 0),
			count(*) FILTER (WHERE state = 'processing' AND stage <> 0),
			count(*) FILTER (WHERE state = 'unresolved'),
			count(*) FILTER (WHERE state = 'waitForMasterVariant'),
			count(*) FILTER (WHERE state = 'imported'),
			count(*) FILTER (WHERE state = 'partiallyImported'),
			count(*) FILTER (WHERE state = 'validationFailed'),
			count(*) FILTER (WHERE state = 'rejected'),
			count(*) FILTER (WHERE state = 'canceled')
		 FROM operations WHERE receipt_id = $1 AND delivery_at = $2) o`, d.receipt, d.at).
		Scan(&c.Total, &c.Queued, &c.Processing, &c.Unresolved, &c.Waiting, &c.Imported, &c.Partially, &c.ValidationFailed, &c.Rejected, &c.Canceled,
			&o.Total, &o.Queued, &o.Processing, &o.Unresolved, &o.Waiting, &o.Imported, &o.Partially, &o.ValidationFailed, &o.Rejected, &o.Canceled)
	if err != nil {
		return err
	}
	sum.Operations = o.Total
	fields := []struct {
		name      string
		got, want int64
	}{
		{"total", c.Total, o.Total}, {"queued", c.Queued, o.Queued}, {"processing", c.Processing, o.Processing},
		{"unresolved", c.Unresolved, o.Unresolved}, {"waiting", c.Waiting, o.Waiting}, {"imported", c.Imported, o.Imported},
		{"partially", c.Partially, o.Partially}, {"validation_failed", c.ValidationFailed, o.ValidationFailed},
		{"rejected", c.Rejected, o.Rejected}, {"canceled", c.Canceled, o.Canceled},
	}
	for _, f := range fields {
		if f.got != f.want {
			report(Violation{Check: CheckCounts, Seq: -1,
				Message: fmt.Sprintf("delivery_counts.%s sums to %d, but %d operations are counted so", f.name, f.got, f.want)})
		}
	}
	return nil
}

// terminal groups the codes of the events that put an operation into an
// end state, as the workers write them: the importer writes Imported,
// ImportedUnchanged or ImportSuperseded (imported), PartiallyImported, TargetRefused
// (validationFailed) and Rejected after the fifth failed attempt; ingest
// writes ValidationFailed for a record that breaks the contract or repeats
// an identity, the resolver for a category cycle; cancellation writes
// Canceled.
var terminal = []struct {
	state tracking.State
	codes []int32
}{
	{tracking.StateImported, []int32{int32(tracking.CodeImported), int32(tracking.CodeImportedUnchanged), int32(tracking.CodeImportSuperseded)}},
	{tracking.StatePartiallyImported, []int32{int32(tracking.CodePartiallyImported)}},
	{tracking.StateValidationFailed, []int32{int32(tracking.CodeValidationFailed), int32(tracking.CodeTargetRefused)}},
	{tracking.StateRejected, []int32{int32(tracking.CodeRejected)}},
	{tracking.StateCanceled, []int32{int32(tracking.CodeCanceled)}},
}

// checkEvents: every operation has one RecordReceived event and, in an end
// state, exactly one terminal event of that state; not in an end state, no
// terminal event. A rejected operation sent back by RetryRequested has had
// one Rejected event per round: Rejected events = rejected + RetryRequested.
//
// Events carry the record's identity (product_id), not the operation's
// position, so the rule is checked per identity within the delivery: for a
// key that one operation has (every key but those of duplicate records) it
// is exactly the per-operation rule; for a key several records share (the
// first valid, the others failed as duplicates) the per-operation counts
// are summed.
func checkEvents(ctx context.Context, db database.DBTX, d delivery, _ *Summary, report func(Violation)) error {
	args := []any{d.receipt, d.at, int32(tracking.CodeRecordReceived), int32(tracking.CodeRetryRequested)}
	var evCols, opCols, mismatch []string
	for i, t := range terminal {
		args = append(args, t.codes)
		evCols = append(evCols, fmt.Sprintf("count(*) FILTER (WHERE code = ANY($%d::int[])) AS t%d", len(args), i))
		opCols = append(opCols, fmt.Sprintf("count(*) FILTER (WHERE state = '%s') AS s%d", t.state, i))
		want := fmt.Sprintf("op.s%d", i)
		if t.state == tracking.StateRejected {
			want += " + coalesce(ev.retries, 0)"
		}
		mismatch = append(mismatch, fmt.Sprintf("coalesce(ev.t%d, 0) <> %s", i, want))
	}
	var sel []string
	for i := range terminal {
		sel = append(sel, fmt.Sprintf("coalesce(op.s%d, 0)", i), fmt.Sprintf("coalesce(ev.t%d, 0)", i))
	}
	q := `WITH ev AS (
			SELECT product_id AS key, count(*) FILTER (WHERE code = $3) AS received, count(*) FILTER (WHERE code = $4) AS retries,
				` + strings.Join(evCols, ", ") + `
			FROM tracking_events WHERE receipt_id = $1 AND delivery_at = $2 AND product_id IS NOT NULL
			GROUP BY product_id),
		op AS (
			SELECT resource_key AS key, count(*) AS n, (array_agg(seq ORDER BY seq))[1:5] AS seqs, (array_agg(state ORDER BY seq))[1:5] AS states,
				` + strings.Join(opCols, ", ") + `
			FROM operations WHERE receipt_id = $1 AND delivery_at = $2
			GROUP BY resource_key)
		SELECT coalesce(op.key, ev.key), coalesce(op.n, 0), coalesce(op.seqs, '{}'), coalesce(op.states, '{}'),
			coalesce(ev.received, 0), coalesce(ev.retries, 0), ` + strings.Join(sel, ", ") + `
		FROM op FULL JOIN ev ON ev.key = op.key
		WHERE op.key IS NULL OR coalesce(ev.received, 0) <> op.n OR ` + strings.Join(mismatch, " OR ") + `
		ORDER BY 1`
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var n, received, retries int64
		var seqs []int32
		var states []string
		pairs := make([]int64, 2*len(terminal))
		dest := []any{&key, &n, &seqs, &states, &received, &retries}
		for i := range pairs {
			dest = append(dest, &pairs[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		v := Violation{Check: CheckEvents, Seq: -1, Key: key}
		if len(seqs) > 0 {
			v.Seq = int(seqs[0])
		}
		if n == 0 {
			v.Message = fmt.Sprintf("%d RecordReceived events for a key no operation of the delivery has", received)
			report(v)
			continue
		}
		who := describeOps(n, seqs, states)
		if received != n {
			v.Message = fmt.Sprintf("%d RecordReceived (%d) events, want %d for %s", received, tracking.CodeRecordReceived, n, who)
			report(v)
		}
		for i, t := range terminal {
			inState, got := pairs[2*i], pairs[2*i+1]
			want := inState
			note := ""
			if t.state == tracking.StateRejected {
				want += retries
				note = fmt.Sprintf(" (%d rejected + %d RetryRequested)", inState, retries)
			}
			if got == want {
				continue
			}
			v.Message = fmt.Sprintf("%d %s terminal events (codes %s), want %d%s for %s", got, t.state, codesText(t.codes), want, note, who)
			report(v)
		}
	}
	return rows.Err()
}

func describeOps(n int64, seqs []int32, states []string) string {
	if n == 1 && len(seqs) == 1 {
		return fmt.Sprintf("the operation (%s)", states[0])
	}
	parts := make([]string, len(seqs))
	for i := range seqs {
		parts[i] = fmt.Sprintf("%d %s", seqs[i], states[i])
	}
	more := ""
	if n > int64(len(seqs)) {
		more = fmt.Sprintf(", … %d in all", n)
	}
	return fmt.Sprintf("the %d operations of this key (%s%s)", n, strings.Join(parts, ", "), more)
}

func codesText(codes []int32) string {
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprint(c)
	}
	return strings.Join(parts, "/")
}

// checkLastEvent: an operation's last_tracking_id is one of its events,
// with the code last_tracking_code, and, when the operation is the only one
// of its key in the delivery, the latest of them (by time, then tracking
// id: UUIDv7s made by one process are increasing).
func checkLastEvent(ctx context.Context, db database.DBTX, d delivery, _ *Summary, report func(Violation)) error {
	rows, err := db.Query(ctx, `WITH e AS MATERIALIZED (
			SELECT product_id, tracking_id, code, ts FROM tracking_events
			WHERE receipt_id = $1 AND delivery_at = $2 AND product_id IS NOT NULL),
		latest AS (SELECT DISTINCT ON (product_id) product_id, tracking_id, code FROM e ORDER BY product_id, ts DESC, tracking_id DESC),
		o AS (SELECT seq, resource_key, last_tracking_id, last_tracking_code, count(*) OVER (PARTITION BY resource_key) AS n
			FROM operations WHERE receipt_id = $1 AND delivery_at = $2)
		SELECT o.seq, o.resource_key, o.last_tracking_id::text, o.last_tracking_code, own.code, l.tracking_id::text, l.code
		FROM o
		LEFT JOIN e own ON own.tracking_id = o.last_tracking_id AND own.product_id = o.resource_key
		LEFT JOIN latest l ON l.product_id = o.resource_key
		WHERE own.tracking_id IS NULL OR own.code <> o.last_tracking_code OR (o.n = 1 AND l.tracking_id <> o.last_tracking_id)
		ORDER BY o.seq`, d.receipt, d.at)
	if err != nil {
		return err
	}
	var seq int
	var key, lastID string
	var lastCode int32
	var ownCode, latestCode *int32
	var latestID *string
	_, err = pgx.ForEachRow(rows, []any{&seq, &key, &lastID, &lastCode, &ownCode, &latestID, &latestCode}, func() error {
		v := Violation{Check: CheckLastEvent, Seq: seq, Key: key}
		switch {
		case ownCode == nil:
			v.Message = fmt.Sprintf("last_tracking_id %s (code %d) is not an event of this operation", lastID, lastCode)
		case *ownCode != lastCode:
			v.Message = fmt.Sprintf("last_tracking_code is %d, but event %s has code %d", lastCode, lastID, *ownCode)
		default:
			v.Message = fmt.Sprintf("last_tracking_id %s (code %d) is not the latest event, %s (code %d) is", lastID, lastCode, deref(latestID), deref(latestCode))
		}
		report(v)
		return nil
	})
	return err
}

func deref[T any](p *T) any {
	if p == nil {
		return "none"
	}
	return *p
}

// checkCompletion: a completed delivery has every operation in an end state
// and exactly one completion event, Completed (1006) when none failed,
// CompletedWithErrors (1007) otherwise, or NoContent (1003) when it held no
// record; a delivery read to the end whose operations have all ended is
// completed; a delivery not completed has no completion event.
func checkCompletion(ctx context.Context, db database.DBTX, d delivery, sum *Summary, report func(Violation)) error {
	var total, pending, failed, events, completions, reopened, noContent int64
	var last *int32 // the latest completion event's code
	err := db.QueryRow(ctx, `SELECT o.*, e.*, (SELECT code FROM tracking_events WHERE receipt_id = $1 AND delivery_at = $2 AND code IN ($3, $4)
			ORDER BY ts DESC, tracking_id DESC LIMIT 1) FROM
		(SELECT count(*), count(*) FILTER (WHERE state NOT IN `+endStates+`),
			count(*) FILTER (WHERE state IN ('validationFailed', 'rejected', 'canceled'))
		 FROM operations WHERE receipt_id = $1 AND delivery_at = $2) o,
		(SELECT count(*), count(*) FILTER (WHERE code IN ($3, $4)), count(*) FILTER (WHERE code = $6), count(*) FILTER (WHERE code = $5)
		 FROM tracking_events WHERE receipt_id = $1 AND delivery_at = $2) e`,
		d.receipt, d.at, int32(tracking.CodeDeliveryCompleted), int32(tracking.CodeDeliveryCompletedWithErrors), int32(tracking.CodeDeliveryNoContent),
		int32(tracking.CodeDeliveryReopened)).
		Scan(&total, &pending, &failed, &events, &completions, &reopened, &noContent, &last)
	if err != nil {
		return err
	}
	sum.Events = events
	bad := func(format string, args ...any) {
		report(Violation{Check: CheckCompletion, Seq: -1, Message: fmt.Sprintf(format, args...)})
	}
	// A retry reopens a completed delivery (DeliveryReopened, 1009), which
	// then completes again: one completion event per round.
	switch {
	case d.completed:
		if pending > 0 {
			bad("completed, but %d operations are not in an end state", pending)
		}
		switch {
		case total == 0:
			if noContent != 1 || completions != 0 {
				bad("completed without records: %d NoContent (1003) and %d completion (1006/1007) events, want 1 and 0", noContent, completions)
			}
		case completions != 1+reopened:
			bad("completed with %d completion events (1006/1007) and %d reopenings (1009), want exactly one more completion than reopenings", completions, reopened)
		case *last == int32(tracking.CodeDeliveryCompleted) && failed > 0:
			bad("latest completion event is Completed (1006), but %d operations failed", failed)
		case *last == int32(tracking.CodeDeliveryCompletedWithErrors) && failed == 0:
			bad("latest completion event is CompletedWithErrors (1007), but no operation failed")
		}
	default:
		if completions != reopened {
			bad("not completed (completed_at is null), but has %d completion events (1006/1007) for %d reopenings (1009)", completions, reopened)
		}
		if d.ingestState == tracking.IngestDone && pending == 0 {
			bad("read to the end and every one of its %d operations is in an end state, but the delivery was never completed (completed_at null, no completion event)", total)
		}
	}
	return nil
}

// checkCatalog: the resource of every imported or partially imported
// operation is in the catalog table of its type (the primary keys make it
// there at most once), and so is what its catalog row refers to: a
// product's type, a variant's product, a price's variant. The catalog has
// no foreign keys (migration 00008): the store checks these before writing.
func checkCatalog(ctx context.Context, db database.DBTX, d delivery, _ *Summary, report func(Violation)) error {
	var parts []string
	for _, t := range catalog.ResourceTypes {
		table, column := catalog.TableOf(t)
		parts = append(parts, fmt.Sprintf(`SELECT o.seq, o.resource_key, o.resource_type, o.state FROM operations o
			WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.state IN ('imported', 'partiallyImported') AND o.resource_type = '%s'
				AND NOT EXISTS (SELECT 1 FROM %s c WHERE c.merchant_id = o.merchant_id AND c.%s = o.resource_key)`, t, table, column))
	}
	// A type no table holds cannot have been imported.
	parts = append(parts, `SELECT o.seq, o.resource_key, o.resource_type, o.state FROM operations o
		WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.state IN ('imported', 'partiallyImported')
			AND o.resource_type <> ALL($3::text[])`)
	types := make([]string, len(catalog.ResourceTypes))
	for i, t := range catalog.ResourceTypes {
		types[i] = string(t)
	}
	rows, err := db.Query(ctx, strings.Join(parts, "\nUNION ALL\n")+"\nORDER BY 1", d.receipt, d.at, types)
	if err != nil {
		return err
	}
	var seq int
	var key, typ, state string
	_, err = pgx.ForEachRow(rows, []any{&seq, &key, &typ, &state}, func() error {
		table := "no catalog table"
		if t, ok := catalog.ParseResourceType(typ); ok {
			table, _ = catalog.TableOf(t)
		}
		report(Violation{Check: CheckCatalog, Seq: seq, Key: key,
			Message: fmt.Sprintf("%s %s %q is not in the catalog (%s)", state, typ, key, table)})
		return nil
	})
	if err != nil {
		return err
	}
	rows, err = db.Query(ctx, `SELECT o.seq, o.resource_key, o.resource_type, o.state, 'product type', c.product_type_key, 'catalog_product_types'
			FROM operations o JOIN catalog_products c ON c.merchant_id = o.merchant_id AND c.key = o.resource_key
			WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.state IN ('imported', 'partiallyImported') AND o.resource_type = 'Product'
				AND NOT EXISTS (SELECT 1 FROM catalog_product_types t WHERE t.merchant_id = c.merchant_id AND t.key = c.product_type_key)
		UNION ALL
		SELECT o.seq, o.resource_key, o.resource_type, o.state, 'product', c.product_key, 'catalog_products'
			FROM operations o JOIN catalog_variants c ON c.merchant_id = o.merchant_id AND c.sku = o.resource_key
			WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.state IN ('imported', 'partiallyImported') AND o.resource_type = 'ProductVariant'
				AND NOT EXISTS (SELECT 1 FROM catalog_products p WHERE p.merchant_id = c.merchant_id AND p.key = c.product_key)
		UNION ALL
		SELECT o.seq, o.resource_key, o.resource_type, o.state, 'variant', c.sku, 'catalog_variants'
			FROM operations o JOIN catalog_prices c ON c.merchant_id = o.merchant_id AND c.key = o.resource_key
			WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.state IN ('imported', 'partiallyImported') AND o.resource_type = 'Price'
				AND NOT EXISTS (SELECT 1 FROM catalog_variants v WHERE v.merchant_id = c.merchant_id AND v.sku = c.sku)
		ORDER BY 1`, d.receipt, d.at)
	if err != nil {
		return err
	}
	var what, ref, table string
	_, err = pgx.ForEachRow(rows, []any{&seq, &key, &typ, &state, &what, &ref, &table}, func() error {
		report(Violation{Check: CheckCatalog, Seq: seq, Key: key,
			Message: fmt.Sprintf("%s %s %q refers to %s %q, which is not in the catalog (%s)", state, typ, key, what, ref, table)})
		return nil
	})
	return err
}

// checkStuck: no operation stays unresolved, longer than the grace period,
// while every reference it is parked on exists (known_keys.exists): the
// release or the resolver's sweep should have let it go.
func (a *Auditor) checkStuck(ctx context.Context, db database.DBTX, d delivery, _ *Summary, report func(Violation)) error {
	rows, err := db.Query(ctx, `SELECT o.seq, o.resource_key, count(*), max(greatest(p.parked_at, k.created_at)),
			extract(epoch FROM now() - max(greatest(p.parked_at, k.created_at)))::float8
		FROM operations o
		JOIN parked_refs p ON p.receipt_id = $1 AND p.delivery_at = $2 AND p.seq = o.seq
		LEFT JOIN known_keys k ON k.merchant_id = p.merchant_id AND k.type_id = p.type_id AND k.key = p.key
		WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.state = 'unresolved'
		GROUP BY o.seq, o.resource_key
		HAVING bool_and(coalesce(k.exists, false)) AND max(greatest(p.parked_at, k.created_at)) < now() - make_interval(secs => $3)
		ORDER BY o.seq`, d.receipt, d.at, a.cfg.Grace.Seconds())
	if err != nil {
		return err
	}
	var seq int
	var key string
	var refs int64
	var since time.Time
	var secs float64
	_, err = pgx.ForEachRow(rows, []any{&seq, &key, &refs, &since, &secs}, func() error {
		report(Violation{Check: CheckStuck, Seq: seq, Key: key,
			Message: fmt.Sprintf("unresolved, but all %d references it is parked on exist, since %s (%s, over the grace of %s)",
				refs, since.UTC().Format(time.RFC3339), (time.Duration(secs) * time.Second).Round(time.Second), a.cfg.Grace)})
		return nil
	})
	return err
}

// masterTypeID is the resolver's pseudo reference of a product waiting for
// its master variant.
const masterTypeID = "master-variant"

// checkParked: an operation is parked (unresolved or waitForMasterVariant)
// exactly when it has parked_refs rows, and waits for a master variant
// exactly when the master variant is all it misses.
func checkParked(ctx context.Context, db database.DBTX, d delivery, _ *Summary, report func(Violation)) error {
	rows, err := db.Query(ctx, `SELECT o.seq, o.resource_key, o.state, count(p.seq), count(p.seq) FILTER (WHERE p.type_id = $3)
		FROM operations o
		LEFT JOIN parked_refs p ON p.receipt_id = $1 AND p.delivery_at = $2 AND p.seq = o.seq
		WHERE o.receipt_id = $1 AND o.delivery_at = $2 AND o.state IN ('unresolved', 'waitForMasterVariant')
		GROUP BY o.seq, o.resource_key, o.state
		HAVING count(p.seq) = 0
			OR (o.state = 'waitForMasterVariant' AND NOT (count(p.seq) = 1 AND count(p.seq) FILTER (WHERE p.type_id = $3) = 1))
			OR (o.state = 'unresolved' AND count(p.seq) = 1 AND count(p.seq) FILTER (WHERE p.type_id = $3) = 1)
		ORDER BY o.seq`, d.receipt, d.at, masterTypeID)
	if err != nil {
		return err
	}
	var seq int
	var key, state string
	var refs, master int64
	_, err = pgx.ForEachRow(rows, []any{&seq, &key, &state, &refs, &master}, func() error {
		v := Violation{Check: CheckParked, Seq: seq, Key: key}
		switch {
		case refs == 0:
			v.Message = fmt.Sprintf("%s, but parked on nothing (no parked_refs row): nothing will release it", state)
		case state == string(tracking.StateWaitForMasterVariant):
			v.Message = fmt.Sprintf("waitForMasterVariant, but parked on %d references of which %d a master variant, want the master variant alone", refs, master)
		default:
			v.Message = "unresolved, but waits for its master variant alone: want waitForMasterVariant"
		}
		report(v)
		return nil
	})
	if err != nil {
		return err
	}
	rows, err = db.Query(ctx, `SELECT p.seq, coalesce(o.resource_key, p.op_key), p.type_id, p.key, o.state
		FROM parked_refs p
		LEFT JOIN operations o ON o.receipt_id = $1 AND o.delivery_at = $2 AND o.seq = p.seq
		WHERE p.receipt_id = $1 AND p.delivery_at = $2
			AND (o.seq IS NULL OR o.state NOT IN ('unresolved', 'waitForMasterVariant'))
		ORDER BY p.seq, p.type_id, p.key`, d.receipt, d.at)
	if err != nil {
		return err
	}
	var typeID, refKey string
	var opState *string
	_, err = pgx.ForEachRow(rows, []any{&seq, &key, &typeID, &refKey, &opState}, func() error {
		v := Violation{Check: CheckParked, Seq: seq, Key: key}
		if opState == nil {
			v.Message = fmt.Sprintf("parked_refs row (%s %s) for an operation that does not exist", typeID, refKey)
		} else {
			v.Message = fmt.Sprintf("parked_refs row (%s %s) for an operation that is %s, not parked", typeID, refKey, *opState)
		}
		report(v)
		return nil
	})
	return err
}
