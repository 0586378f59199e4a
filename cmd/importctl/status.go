package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

// status runs `importctl status RECEIPT [--json]`: it prints the delivery's
// status and exits 1 when the delivery failed in part or as a whole.
func (c *cli) status(ctx context.Context, g globals, args []string) (int, error) {
	fs := newFlagSet("status", "importctl status RECEIPT [--json]", c.stderr)
	g.register(fs.FlagSet)
	raw := fs.Bool("json", false, "print the raw JSON body of GET /import/{receipt}/status")
	client, receipt, err := receiptClient(fs, &g, args)
	if err != nil {
		return exitUsage, err
	}
	body, st, err := client.StatusRaw(ctx, receipt)
	if err != nil {
		return exitUsage, err
	}
	job := jobView(ctx, client, receipt)
	if err := ctx.Err(); err != nil {
		return exitInterrupted, err
	}
	if *raw {
		if _, err := fmt.Fprintf(c.stdout, "%s\n", trimNewline(body)); err != nil {
			return exitUsage, fmt.Errorf("write status: %w", err)
		}
	} else {
		printStatus(c.stdout, receipt, st, job)
	}
	return jobExitCode(st.StatusCode, job), nil
}

// jobView returns the job view of the delivery, or nil when the service
// does not give it (a service without the /v1 API answers 404): what it
// adds to the status is welcome, not needed.
func jobView(ctx context.Context, client *Client, receipt string) *Job {
	_, job, err := client.Job(ctx, receipt)
	if err != nil {
		return nil
	}
	return &job
}

// merchantFlag adds --merchant to a command taking a receipt: the
// receipt's merchant, for an operator's token.
func merchantFlag(fs *flagSet) *string {
	m := new(string)
	fs.Func("merchant", "the receipt's merchant `id` (an operator's token, for a receipt several merchants used)", func(s string) error {
		if !bus.ValidMerchant(s) {
			return fmt.Errorf("invalid merchant id %q: want 1 to 64 of A-Z a-z 0-9 _ -", s)
		}
		*m = s
		return nil
	})
	return m
}

// receiptClient registers --merchant on fs, parses a command's flags and
// its one argument, a valid receipt (parseReceiptArg), and returns the
// receipt with a client of the query service for that merchant's receipt.
// g is the command's globals, registered on fs: parsing fills them in.
func receiptClient(fs *flagSet, g *globals, args []string) (*Client, string, error) {
	merchant := merchantFlag(fs)
	receipt, err := parseReceiptArg(fs, args)
	if err != nil {
		return nil, "", err
	}
	client, err := NewClient(g.api, g.token)
	if err != nil {
		return nil, "", err
	}
	client.merchant = *merchant
	return client, receipt, nil
}

// parseReceiptArg parses a command's flags and its one argument, a valid
// receipt id.
func parseReceiptArg(fs *flagSet, args []string) (string, error) {
	pos, err := fs.parseInterspersed(args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", usagef("%s: want one RECEIPT argument, got %d", fs.Name(), len(pos))
	}
	if !bus.ValidReceipt(pos[0]) {
		return "", usagef("%s: invalid receipt id %q: want 8 to 64 of A-Z a-z 0-9 _ -", fs.Name(), pos[0])
	}
	return pos[0], nil
}

// printStatus writes a delivery's status as a human-readable block, with
// what its job view (when not nil) adds: the job status, which alone tells
// an interrupted delivery, and the warnings.
func printStatus(w io.Writer, receipt string, b tracking.StatusBody, job *Job) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(label, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{label + ":"}, args...)...)
	}
	line("Receipt", "%s", receipt)
	line("Status", "%s (%d)", b.Status, b.StatusCode)
	if job != nil {
		if job.Status == jobInterrupted {
			line("Job status", "%s (at %s)", job.Status, formatTime(job.InterruptedAt))
		} else {
			line("Job status", "%s", job.Status)
		}
	}
	line("Accepted", "%s", formatTime(&b.Delivery.AcceptedUtc))
	line("Data", "%s", b.Delivery.Data)
	line("Merchant", "%s", b.Delivery.MerchantID)
	fk := "-"
	if b.Delivery.ForeignKey != nil {
		fk = *b.Delivery.ForeignKey
	}
	line("Foreign key", "%s", fk)
	p := b.Products
	line("Products", "%d successful, %d pending, %d failed (%d in all)",
		p.Successful, p.Pending, p.Failed, p.Successful+p.Pending+p.Failed)
	if job != nil && job.WarningsCount > 0 {
		line("Warnings", "%d partially imported", job.WarningsCount)
	}
	if job != nil && job.ItemsInReview > 0 {
		line("In review", "%d waiting for references or a master variant", job.ItemsInReview)
	}
	switch {
	case b.CompletedUtc != nil:
		line("Completed", "%s", formatTime(b.CompletedUtc))
	case b.EstimatedCompletionUtc != nil:
		line("Estimated", "%s", formatTime(b.EstimatedCompletionUtc))
	}
	tw.Flush()
	if len(b.IngestionErrors) > 0 {
		fmt.Fprintln(w, "Ingestion errors:")
		for _, e := range b.IngestionErrors {
			fmt.Fprintf(w, "  %s: %s\n", e.Code, e.Description)
		}
	}
}

// formatTime renders t in UTC, RFC 3339, or "-" when it is unset.
func formatTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// trimNewline drops one trailing newline of b.
func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}
