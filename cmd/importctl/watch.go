package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/importd/importd/tracking"
)

// maxPollFailures is how many polls in a row may fail transiently (the
// query service restarting, say) before watch gives up.
const maxPollFailures = 20

// defaultGrace is how long watch waits for an unknown receipt to become
// known: ingest reads a delivery within moments of its publication, unless
// it is far behind.
const defaultGrace = 10 * time.Second

// watch runs `importctl watch RECEIPT [--timeout D] [--grace D]`.
func (c *cli) watch(ctx context.Context, g globals, args []string) (int, error) {
	fs := newFlagSet("watch", "importctl watch RECEIPT [--timeout D] [--grace D]", c.stderr)
	g.register(fs.FlagSet)
	timeout := fs.Duration("timeout", 0, "give up after this `duration` (0: never)")
	grace := fs.Duration("grace", defaultGrace, "how long an unknown receipt may stay unknown (ingest has not read it yet) before watch gives up; 0: for ever")
	client, receipt, err := receiptClient(fs, &g, args)
	if err != nil {
		return exitUsage, err
	}
	if *timeout < 0 || *grace < 0 {
		return exitUsage, usagef("watch: --timeout and --grace must not be negative")
	}
	return c.watchAndReport(ctx, client, receipt, *timeout, *grace, c.stdout)
}

// watchAndReport shows the delivery's progress on stderr until it ends,
// then writes the result to out and returns the exit code. The result fits
// on one screen: the final status and counts, the job status and the most
// frequent error codes (from the job view, when the service gives it), and
// the exit code. Stopped early (timeout, Ctrl-C, a receipt still unknown
// after grace), it reports the last status it saw.
func (c *cli) watchAndReport(ctx context.Context, client *Client, receipt string, timeout, grace time.Duration, out io.Writer) (int, error) {
	w := &watcher{client: client, interval: c.pollInterval, timeout: timeout, grace: grace, progress: &progress{w: c.stderr}}
	last, err := w.run(ctx, receipt)
	if err != nil {
		if last != nil {
			printStatus(out, receipt, *last, nil)
		}
		return exitUsage, err
	}
	job := jobView(ctx, client, receipt)
	if ctx.Err() != nil { // Ctrl-C while asking for the job view
		printStatus(out, receipt, *last, nil)
		return exitInterrupted, fmt.Errorf("%w (%v)", errInterrupted, context.Cause(ctx))
	}
	printStatus(out, receipt, *last, job)
	if job != nil {
		printTopErrors(out, receipt, job, topErrorCodes)
	}
	code := jobExitCode(last.StatusCode, job)
	fmt.Fprintf(out, "Exit code %d: %s\n", code, exitMeaning(last.StatusCode, job))
	return code, nil
}

// topErrorCodes is how many error codes the result of a watch lists.
const topErrorCodes = 5

// watcher polls a delivery's status until it ends, showing its progress.
type watcher struct {
	client   *Client
	interval time.Duration // between polls
	timeout  time.Duration // 0: none
	// grace is how long the receipt may be unknown before the watch ends
	// with ErrNotFound; 0: for ever.
	grace    time.Duration
	progress *progress
}

// run polls the status of the receipt every interval until the delivery
// ends, the timeout elapses (errTimeout) or ctx is canceled
// (errInterrupted). A 404 means ingest has not read the delivery yet, for
// the grace at most (a 404 after a status means the delivery is gone:
// ErrNotFound at once); transient failures are retried, up to
// maxPollFailures in a row. It returns the last status seen, nil if none.
func (w *watcher) run(ctx context.Context, receipt string) (*tracking.StatusBody, error) {
	if w.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, w.timeout, errTimeout)
		defer cancel()
	}
	var (
		last     *tracking.StatusBody
		failures int
		start    = time.Now()
	)
	defer w.progress.close()
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	for {
		body, err := w.client.Status(ctx, receipt)
		switch {
		case ctx.Err() != nil:
			return last, stopped(ctx)
		case errors.Is(err, ErrNotFound) && last != nil:
			return last, fmt.Errorf("watch %s: %w (the delivery was known; it may have expired)", receipt, err)
		case errors.Is(err, ErrNotFound) && w.grace > 0 && time.Since(start) >= w.grace:
			return nil, fmt.Errorf("watch %s: %w, still after %s (a mistyped receipt, or ingest is not running; --grace waits longer)",
				receipt, err, w.grace.Round(time.Millisecond))
		case errors.Is(err, ErrNotFound):
			w.progress.waiting(receipt)
		case err != nil && transient(err) && failures+1 < maxPollFailures:
			if failures++; failures == 1 {
				w.progress.note(fmt.Sprintf("retrying: %v", err))
			}
		case err != nil:
			return last, fmt.Errorf("watch %s: %w", receipt, err)
		default:
			failures = 0
			last = &body
			var read *bodyRead
			if body.StatusCode == tracking.StatusReceiving.Code {
				read = w.bodyRead(ctx, receipt)
			}
			w.progress.update(body, read)
			if finished(body.StatusCode) {
				return last, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, stopped(ctx)
		case <-tick.C:
		}
	}
}

// bodyRead is how much of a delivery's body ingest has read, in bytes.
type bodyRead struct{ read, total int64 }

// bodyRead asks the job object how much of the body is read, nil when it
// does not say (a service without bytesTotal, or the body not opened yet):
// the records read so far are then all there is to show.
func (w *watcher) bodyRead(ctx context.Context, receipt string) *bodyRead {
	_, j, err := w.client.Job(ctx, receipt)
	if err != nil || j.BytesTotal == nil || *j.BytesTotal <= 0 || j.BytesRead <= 0 {
		return nil
	}
	return &bodyRead{read: j.BytesRead, total: *j.BytesTotal}
}

// expectedRecords is how many records a delivery should hold in all: while
// it is read, the records read so far scaled by the part of the body they
// came from; the records read when that is unknown.
func expectedRecords(records int64, b *bodyRead) int64 {
	if b == nil || b.read >= b.total || records == 0 {
		return records
	}
	return max(records+1, (records*b.total+b.read-1)/b.read)
}

// stopped returns why ctx is done: errTimeout, or errInterrupted.
func stopped(ctx context.Context) error {
	cause := context.Cause(ctx)
	if errors.Is(cause, errTimeout) {
		return errTimeout
	}
	return fmt.Errorf("%w (%v)", errInterrupted, cause)
}

// progress draws a delivery's progress on w: a bar of the records done
// (Successful + Failed) of all records known (Successful + Pending +
// Failed), or, while the body is read, of the records expected from the
// part of the body read (expectedRecords), followed by the delivery's
// status, the rate and the ETA. The bar
// appears once the delivery has a record and has not ended yet; until then,
// status changes are printed as lines.
//
// The rate is measured here, over the polls of the last rateWindow, rather
// than by the bar: records done before the watch began (a watch started
// late, records that failed validation at once) would make the bar's own
// rate absurd.
type progress struct {
	w          io.Writer
	bar        *progressbar.ProgressBar
	desc       string // the bar's description
	lastLine   string // last line printed before the bar
	barEnded   bool
	sawWaiting bool
	samples    []sample // of the last rateWindow, oldest first
}

// rateWindow is how far back the rate of a watch looks.
const rateWindow = 20 * time.Second

// sample is the records done at one poll.
type sample struct {
	at   time.Time
	done int64
}

// observe records the records done at now and returns the rate (records
// per second, 0 when unknown yet) over the samples of the last rateWindow.
func (p *progress) observe(now time.Time, done int64) float64 {
	p.samples = append(p.samples, sample{at: now, done: done})
	i := 0
	for i < len(p.samples)-2 && now.Sub(p.samples[i].at) > rateWindow {
		i++
	}
	p.samples = p.samples[i:]
	first, last := p.samples[0], p.samples[len(p.samples)-1]
	elapsed := last.at.Sub(first.at).Seconds()
	if elapsed <= 0 || last.done <= first.done {
		return 0
	}
	return float64(last.done-first.done) / elapsed
}

// describe returns the bar's description: the status, then the rate and
// the ETA once there is a rate, unless the delivery has ended.
func describe(status string, done, total int64, rate float64, ended bool) string {
	if ended || rate <= 0 {
		return status
	}
	eta := time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second)
	r := fmt.Sprintf("%.0f", rate)
	if rate < 10 {
		r = fmt.Sprintf("%.1f", rate)
	}
	return fmt.Sprintf("%s, %s records/s, ETA %s", status, r, eta)
}

// waiting says, once, that the delivery is not known yet.
func (p *progress) waiting(receipt string) {
	if !p.sawWaiting && p.bar == nil {
		p.sawWaiting = true
		fmt.Fprintf(p.w, "waiting for ingest to read delivery %s…\n", receipt)
	}
}

// note prints a message above the bar.
func (p *progress) note(msg string) {
	if p.bar != nil && !p.barEnded {
		_ = p.bar.Clear()
	}
	fmt.Fprintln(p.w, msg)
}

// update shows the status b, and how much of the body is read (nil when
// unknown or read).
func (p *progress) update(b tracking.StatusBody, read *bodyRead) {
	done := b.Products.Successful + b.Products.Failed
	total := done + b.Products.Pending
	if !finished(b.StatusCode) {
		total = expectedRecords(total, read)
	}
	if p.bar == nil && finished(b.StatusCode) {
		// Ended before there was anything to draw (or between two polls): a
		// bar would show only a meaningless rate; the final report follows.
		return
	}
	if total == 0 {
		if p.bar == nil {
			p.line(fmt.Sprintf("%s: no record yet", b.Status))
		} else if !p.barEnded && b.Status != p.desc {
			p.desc = b.Status
			p.bar.Describe(b.Status)
		}
		return
	}
	rate := p.observe(time.Now(), done)
	desc := describe(b.Status, done, total, rate, finished(b.StatusCode))
	if p.bar == nil {
		p.bar = newBar(p.w, total, desc)
		p.desc = desc
	}
	if p.barEnded {
		return
	}
	if !finished(b.StatusCode) && done >= total {
		// Every record read so far is done but the delivery is not (ingest
		// is still reading it): keep the bar open, it would not redraw.
		done = total - 1
	}
	// Each of these redraws the bar: call only those that change it. The
	// total first, so that no frame pairs the new status with the old total;
	// the count last, as reaching the total ends the bar.
	if total != p.bar.GetMax64() {
		p.bar.ChangeMax64(total)
	}
	if desc != p.desc {
		p.desc = desc
		p.bar.Describe(desc)
	}
	_ = p.bar.Set64(done)
	if finished(b.StatusCode) {
		p.close()
	}
}

// line prints s unless it was the last line printed.
func (p *progress) line(s string) {
	if s != p.lastLine {
		p.lastLine = s
		fmt.Fprintln(p.w, s)
	}
}

// close ends the bar, leaving it on screen, and moves to the next line.
func (p *progress) close() {
	if p.bar == nil || p.barEnded {
		return
	}
	p.barEnded = true
	if p.bar.IsFinished() {
		return // the completion handler ended the line
	}
	_ = p.bar.Exit()
}

// newBar returns a bar of max records on w: the percentage, the bar, the
// records done / total, then the description (progress.describe).
func newBar(w io.Writer, max int64, description string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(description),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}
