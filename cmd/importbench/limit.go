package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
)

// copyTable is one table of the COPY limit: the rows the pipeline wrote.
type copyTable struct {
	table string
	where string
}

// copyLimit copies the final rows the pipeline wrote (the main load's
// operations and tracking events, the merchant's catalog products, variants
// and prices) into the same tables of a second fresh database, with COPY
// and nothing else, and times it. The rows are first dumped to files (not
// timed), so that the timed part reads nothing from the pipeline's database.
func (b *bench) copyLimit(ctx context.Context, r *Result) error {
	lit := make([]string, len(b.receipts))
	for i, rec := range b.receipts {
		lit[i] = "'" + strings.ReplaceAll(rec, "'", "''") + "'"
	}
	byReceipt := "receipt_id IN (" + strings.Join(lit, ",") + ")"
	byMerchant := "merchant_id = '" + merchantMain + "'"
	prereq := []copyTable{{"catalog_product_types", byMerchant}}
	chains := [][]copyTable{
		{{"operations", byReceipt}},
		{{"tracking_events", byReceipt}},
		{{"catalog_products", byMerchant}, {"catalog_variants", byMerchant}, {"catalog_prices", byMerchant}},
	}
	dir, err := os.MkdirTemp("", "importbench-copy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := func(t copyTable) string { return filepath.Join(dir, t.table+".bin") }
	all := append([]copyTable{}, prereq...)
	for _, ch := range chains {
		all = append(all, ch...)
	}
	r.Limit.Copy.Rows = map[string]int64{}
	for _, t := range all {
		if err := b.dump(ctx, t, file(t)); err != nil {
			return err
		}
	}

	url2, pool2, drop, err := freshDB(ctx, b.o.DB, "_limit")
	if err != nil {
		return err
	}
	if b.o.Keep {
		defer b.logf("kept database %s", redact(url2))
		defer pool2.Close()
	} else {
		defer drop()
	}
	for _, t := range prereq {
		if _, err := load(ctx, pool2, t, file(t)); err != nil {
			return err
		}
	}
	rows := make([][]int64, len(chains))
	pg0, err := postgresCPU(ctx, pool2)
	if err != nil {
		return err
	}
	client0 := cpuSeconds(os.Getpid())
	wal0, err := walNow(ctx, pool2)
	if err != nil {
		return err
	}
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for i, ch := range chains {
		g.Go(func() error {
			for _, t := range ch {
				n, err := load(gctx, pool2, t, file(t))
				if err != nil {
					return err
				}
				rows[i] = append(rows[i], n)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	client := cpuSeconds(os.Getpid()) - client0
	if r.Limit.Copy.WAL, err = walSince(ctx, pool2, wal0, b.o.Records); err != nil {
		return err
	}
	pg, err := postgresCPUSince(ctx, pool2, pg0)
	if err != nil {
		return err
	}
	for i, ch := range chains {
		for j, t := range ch {
			r.Limit.Copy.Rows[t.table] = rows[i][j]
		}
		for _, t := range ch {
			if st, err := os.Stat(file(t)); err == nil {
				r.Limit.Copy.Bytes += st.Size()
			}
		}
	}
	r.Limit.Copy.Seconds = round(secs, 3)
	r.Limit.Copy.RecordsPerSec = round(float64(b.o.Records)/secs, 1)
	if r.Limit.Copy.RecordsPerSec > 0 {
		r.Limit.Copy.Fraction = round(r.EndToEnd.RecordsPerSec/r.Limit.Copy.RecordsPerSec, 4)
	}
	c := &r.Limit.Copy
	c.CPU = LimitCPU{Total: round(pg+client, 3), PostgreSQL: round(pg, 3), Client: round(client, 3)}
	c.CPUPerRecord = LimitCPU{
		Total:      microsPerRecord(pg+client, b.o.Records),
		PostgreSQL: microsPerRecord(pg, b.o.Records),
		Client:     microsPerRecord(client, b.o.Records),
	}
	// The load and the limit count the same records, so the ratio of their
	// seconds is the ratio of their CPU per record.
	if pg+client > 0 {
		r.CPURatio = round(r.CPU.total()/(pg+client), 3)
	}
	return nil
}

// postgresCPU returns the CPU seconds so far of each PostgreSQL process the
// load's measurement counts (postgresPIDs), for pool's database.
func postgresCPU(ctx context.Context, pool *pgxpool.Pool) (map[int]float64, error) {
	pids, err := postgresPIDs(ctx, pool)
	if err != nil {
		return nil, err
	}
	cpu := make(map[int]float64, len(pids))
	for _, pid := range pids {
		cpu[pid] = cpuSeconds(pid)
	}
	return cpu, nil
}

// postgresCPUSince returns the CPU seconds the PostgreSQL processes of
// pool's database used since before was taken: the processes of before are
// read first, so that listing the new ones (the backends opened since) adds
// no CPU of theirs; a process gone since adds nothing.
func postgresCPUSince(ctx context.Context, pool *pgxpool.Pool, before map[int]float64) (float64, error) {
	var s float64
	for pid, c0 := range before {
		if c := cpuSeconds(pid); c > c0 {
			s += c - c0
		}
	}
	pids, err := postgresPIDs(ctx, pool)
	if err != nil {
		return 0, err
	}
	for _, pid := range pids {
		if _, ok := before[pid]; !ok {
			s += cpuSeconds(pid)
		}
	}
	return s, nil
}

// dump writes the rows of t in COPY's binary format to path.
func (b *bench) dump(ctx context.Context, t copyTable, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	cols, err := storedColumns(ctx, b.pool, t.table)
	if err != nil {
		return err
	}
	if _, err := conn.Conn().PgConn().CopyTo(ctx, f, "COPY (SELECT "+cols+" FROM "+t.table+" WHERE "+t.where+") TO STDOUT (FORMAT binary)"); err != nil {
		return fmt.Errorf("dump %s: %w", t.table, err)
	}
	return f.Close()
}

// storedColumns lists the columns of table that COPY writes, in order:
// all but the generated ones, which PostgreSQL computes (and counts in the
// time of the load).
func storedColumns(ctx context.Context, pool *pgxpool.Pool, table string) (string, error) {
	var cols string
	err := pool.QueryRow(ctx, `SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)
		FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER'`, table).Scan(&cols)
	if err != nil {
		return "", fmt.Errorf("columns of %s: %w", table, err)
	}
	return cols, nil
}

// load copies path into t.
func load(ctx context.Context, pool *pgxpool.Pool, t copyTable, path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	cols, err := storedColumns(ctx, pool, t.table)
	if err != nil {
		return 0, err
	}
	tag, err := conn.Conn().PgConn().CopyFrom(ctx, f, "COPY "+t.table+" ("+cols+") FROM STDIN (FORMAT binary)")
	if err != nil {
		return 0, fmt.Errorf("copy into %s: %w", t.table, err)
	}
	return tag.RowsAffected(), nil
}

// jetStreamLimit publishes, asynchronously, as many messages of the same
// average size as the pipeline's work messages into a work-queue stream of
// the same server, then consumes them with a durable pull consumer that
// acknowledges each one, and times both.
func (b *bench) jetStreamLimit(ctx context.Context, r *Result) error {
	m := r.Work.Messages
	size := int(r.Work.AvgBytes + 0.5)
	lim := &r.Limit.JetStream
	lim.Messages, lim.MessageBytes = m, size
	if m == 0 {
		return errors.New("the pipeline published no work message")
	}
	const name = "IMPORTBENCH_LIMIT"
	stream, err := b.js.CreateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{"importbench.limit.*"}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return err
	}
	defer func() { _ = b.js.DeleteStream(context.WithoutCancel(ctx), name) }()
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = "abcdefghijklmnopqrstuvwxyz0123456789{}\":,"[i%41]
	}
	subject := "importbench.limit." + merchantMain

	// At most 64 MiB unacknowledged: a stream's inbound queue holds 128 MiB
	// by default and refuses what overflows it with 429 "too many requests"
	// (a 1,000,000-record run, 8,770 messages of 412 KB, lost its JetStream
	// figure so). The pipeline's own publishers stay far under it.
	window := max(1, (64<<20)/size)
	start := time.Now()
	pending := make([]jetstream.PubAckFuture, 0, window)
	await := func(f jetstream.PubAckFuture) error {
		select {
		case <-f.Ok():
			return nil
		case err := <-f.Err():
			return fmt.Errorf("publish: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for i := int64(0); i < m; i++ {
		if len(pending) == window {
			if err := await(pending[0]); err != nil {
				return err
			}
			pending = pending[1:]
		}
		f, err := b.js.PublishAsync(subject, payload)
		if err != nil {
			return err
		}
		pending = append(pending, f)
	}
	for _, f := range pending {
		if err := await(f); err != nil {
			return err
		}
	}
	lim.PublishSeconds = round(time.Since(start).Seconds(), 3)

	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "importbench", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1024, AckWait: 30 * time.Second,
	})
	if err != nil {
		return err
	}
	start = time.Now()
	// Bounded by bytes: 256 messages of a few hundred KB would overflow the
	// client's pending limit (64 MiB) and be dropped until the ack wait.
	it, err := cons.Messages(jetstream.PullMaxBytes(16 << 20))
	if err != nil {
		return err
	}
	defer it.Stop()
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Minute)
	defer ccancel()
	for got := int64(0); got < m; got++ {
		msg, err := it.Next(jetstream.NextContext(cctx))
		if err != nil {
			return fmt.Errorf("consumed %d of %d messages: %w", got, m, err)
		}
		if err := msg.Ack(); err != nil {
			return err
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := b.nc.FlushWithContext(fctx); err != nil {
		return err
	}
	lim.ConsumeSeconds = round(time.Since(start).Seconds(), 3)
	secs := lim.PublishSeconds + lim.ConsumeSeconds
	lim.Seconds = round(secs, 3)
	lim.MessagesPerSec = round(float64(m)/secs, 1)
	lim.RecordsPerSec = round(float64(b.o.Records)/secs, 1)
	if lim.RecordsPerSec > 0 {
		lim.Fraction = round(r.EndToEnd.RecordsPerSec/lim.RecordsPerSec, 4)
	}
	return nil
}

// walNow reads the server's position in its write-ahead log, in bytes.
func walNow(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var lsn int64
	if err := pool.QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint`).Scan(&lsn); err != nil {
		return 0, fmt.Errorf("WAL position: %w", err)
	}
	return lsn, nil
}

// walSince returns what the server wrote to its log since the position
// before, and per record of a load of records.
func walSince(ctx context.Context, pool *pgxpool.Pool, before int64, records int) (WAL, error) {
	now, err := walNow(ctx, pool)
	if err != nil {
		return WAL{}, err
	}
	w := WAL{Bytes: now - before}
	if records > 0 {
		w.BytesPerRecord = round(float64(w.Bytes)/float64(records), 0)
	}
	return w, nil
}
