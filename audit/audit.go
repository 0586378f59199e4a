// Package audit checks the invariants of deliveries, operations, tracking
// events and the catalog against what is stored in PostgreSQL: that every
// operation's state, its history, its delivery's counters and the catalog
// agree.
//
// Every check is one set-based query per delivery, pruned to the
// delivery's partition by receipt id and delivery time, and returns only the
// rows that break a rule: a delivery of a million operations is audited in
// a handful of scans, never with a round trip per row. The checks of one
// delivery run in one repeatable-read, read-only transaction, so an audit
// taken while workers are busy sees a single consistent snapshot (every
// worker writes a state change, its events and its counts in one
// transaction).
package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/internal/store"
)

// ErrNotFound means no delivery has the receipt.
var ErrNotFound = errors.New("audit: delivery not found")

// Names of the checks, as violations report them.
const (
	CheckState      = "state"      // a valid state, and a stage consistent with it
	CheckCounts     = "counts"     // delivery_counts equal the operations' states
	CheckEvents     = "events"     // one RecordReceived, one terminal event per end (plus retries)
	CheckLastEvent  = "last-event" // last_tracking_id/code are the latest event
	CheckCompletion = "completion" // a completed delivery: all ended, one completion event
	CheckCatalog    = "catalog"    // an imported operation's resource is in the catalog
	CheckStuck      = "stuck"      // parked while every missing reference exists
	CheckParked     = "parked"     // parked operations and parked_refs agree
)

// Config configures an Auditor.
type Config struct {
	// Grace is how long an unresolved operation may wait on references
	// that all exist before it is reported (the resolver's sweep needs a
	// few seconds). Defaults to 30s.
	Grace time.Duration
	// SkipCatalog leaves out the catalog check, for pipelines whose
	// importer writes into another target than catalog.Store.
	SkipCatalog bool
}

// Auditor audits deliveries. It is safe for concurrent use.
type Auditor struct {
	pool   *pgxpool.Pool
	cfg    Config
	logger *zap.Logger
}

// New returns an auditor on pool.
func New(pool *pgxpool.Pool, cfg Config, logger *zap.Logger) (*Auditor, error) {
	if pool == nil {
		return nil, errors.New("audit: New needs a pool")
	}
	if cfg.Grace == 0 {
		cfg.Grace = 30 * time.Second
	}
	if cfg.Grace < 0 {
		return nil, fmt.Errorf("audit: Grace %s must not be negative", cfg.Grace)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Auditor{pool: pool, cfg: cfg, logger: logger.Named("audit")}, nil
}

// Violation is one broken rule.
type Violation struct {
	Check     string
	ReceiptID string
	Seq       int    // the operation's position; -1 for the delivery as a whole
	Key       string // the operation's resource key; empty for the delivery
	Message   string
}

// String is the violation as one line: receipt, operation, check, what is wrong.
func (v Violation) String() string {
	var b strings.Builder
	b.WriteString("receipt ")
	b.WriteString(v.ReceiptID)
	if v.Seq >= 0 {
		b.WriteString(" op ")
		b.WriteString(strconv.Itoa(v.Seq))
	}
	if v.Key != "" {
		b.WriteString(" key ")
		b.WriteString(strconv.Quote(v.Key))
	}
	b.WriteString(": ")
	b.WriteString(v.Check)
	b.WriteString(": ")
	b.WriteString(v.Message)
	return b.String()
}

// Summary counts what an audit looked at and what it found.
type Summary struct {
	Deliveries int64
	Operations int64
	Events     int64
	Violations int64
}

// String is the summary line of the command.
func (s Summary) String() string {
	return fmt.Sprintf("audited %d deliveries, %d operations, %d events: %d violations",
		s.Deliveries, s.Operations, s.Events, s.Violations)
}

// delivery is what the checks need of a delivery.
type delivery struct {
	receipt     string
	at          time.Time
	merchant    string
	ingestState string
	completed   bool
}

// Delivery audits the delivery with this receipt, calling report for each
// violation. It fails with ErrNotFound when there is no such delivery.
func (a *Auditor) Delivery(ctx context.Context, receipt string, report func(Violation)) (Summary, error) {
	var ds []delivery
	err := store.AuditDeliveriesByReceipt(ctx, a.pool, receipt, collectDelivery(&ds))
	if err != nil {
		return Summary{}, fmt.Errorf("audit: delivery %s: %w", receipt, err)
	}
	if len(ds) == 0 {
		return Summary{}, fmt.Errorf("%w: %s", ErrNotFound, receipt)
	}
	var sum Summary
	for _, d := range ds {
		s, err := a.audit(ctx, d, report)
		if err != nil {
			return sum, err
		}
		sum.add(s)
	}
	return sum, nil
}

// All audits every delivery still within its retention, oldest first.
func (a *Auditor) All(ctx context.Context, report func(Violation)) (Summary, error) {
	var ds []delivery
	err := store.AuditDeliveriesRetained(ctx, a.pool, collectDelivery(&ds))
	if err != nil {
		return Summary{}, fmt.Errorf("audit: deliveries: %w", err)
	}
	var sum Summary
	for _, d := range ds {
		s, err := a.audit(ctx, d, report)
		if err != nil {
			return sum, err
		}
		sum.add(s)
	}
	return sum, nil
}

// collectDelivery appends the deliveries it is called with to ds.
func collectDelivery(ds *[]delivery) func(store.AuditDelivery) error {
	return func(d store.AuditDelivery) error {
		*ds = append(*ds, delivery{receipt: d.ReceiptID, at: d.AcceptedAt, merchant: d.MerchantID, ingestState: d.IngestState, completed: d.Completed})
		return nil
	}
}

func (s *Summary) add(o Summary) {
	s.Deliveries += o.Deliveries
	s.Operations += o.Operations
	s.Events += o.Events
	s.Violations += o.Violations
}

// audit runs every check of one delivery in one consistent snapshot.
func (a *Auditor) audit(ctx context.Context, d delivery, report func(Violation)) (Summary, error) {
	var sum Summary
	err := pgx.BeginTxFunc(ctx, a.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		sum, err = a.auditTx(ctx, tx, d, report)
		return err
	})
	if err != nil {
		return sum, fmt.Errorf("audit: delivery %s: %w", d.receipt, err)
	}
	return sum, nil
}

// auditTx runs the checks of one delivery in the caller's transaction.
func (a *Auditor) auditTx(ctx context.Context, db database.DBTX, d delivery, report func(Violation)) (Summary, error) {
	sum := Summary{Deliveries: 1}
	count := func(v Violation) {
		v.ReceiptID = d.receipt
		sum.Violations++
		if report != nil {
			report(v)
		}
	}
	checks := []struct {
		name string
		run  func(context.Context, database.DBTX, delivery, *Summary, func(Violation)) error
	}{
		{CheckState, checkState},
		{CheckCounts, checkCounts},
		{CheckEvents, checkEvents},
		{CheckLastEvent, checkLastEvent},
		{CheckCompletion, checkCompletion},
		{CheckCatalog, checkCatalog},
		{CheckStuck, a.checkStuck},
		{CheckParked, checkParked},
	}
	for _, c := range checks {
		if c.name == CheckCatalog && a.cfg.SkipCatalog {
			continue
		}
		start := time.Now()
		if err := c.run(ctx, db, d, &sum, count); err != nil {
			return sum, fmt.Errorf("check %s: %w", c.name, err)
		}
		a.logger.Debug("check done", zap.String("receipt", d.receipt), zap.String("check", c.name), zap.Duration("took", time.Since(start)))
	}
	return sum, nil
}
