package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// cancel runs `importctl cancel RECEIPT [--json]`: it interrupts a delivery
// (POST /v1/imports/{receipt}/cancel) and prints the resulting job status.
// A delivery that has completed already cannot be canceled: the service
// answers 409, and the exit code is 1.
func (c *cli) cancel(ctx context.Context, g globals, args []string) (int, error) {
	fs := newFlagSet("cancel", "importctl cancel RECEIPT [--json]", c.stderr)
	g.register(fs.FlagSet)
	raw := fs.Bool("json", false, "print the raw JSON job object the service answers")
	client, receipt, err := receiptClient(fs, &g, args)
	if err != nil {
		return exitUsage, err
	}
	body, job, err := client.Cancel(ctx, receipt)
	if err != nil {
		return exitUsage, err
	}
	if *raw {
		return writeRaw(c.stdout, body)
	}
	fmt.Fprintf(c.stdout, "Canceled delivery %s\n", receipt)
	printJob(c.stdout, job)
	return exitOK, nil
}

// retry runs `importctl retry RECEIPT [--operation ID] [--json]`: it sends
// the rejected operations of a delivery (POST /v1/imports/{receipt}/retry),
// or the one rejected operation ID (POST /v1/operations/{id}/retry), back
// to the importer. Nothing to retry is a 409, and the exit code is 1.
func (c *cli) retry(ctx context.Context, g globals, args []string) (int, error) {
	fs := newFlagSet("retry", "importctl retry RECEIPT [--operation ID] [--json]", c.stderr)
	g.register(fs.FlagSet)
	opID := fs.String("operation", "", "retry only the operation with this `id`")
	raw := fs.Bool("json", false, "print the raw JSON body the service answers")
	client, receipt, err := receiptClient(fs, &g, args)
	if err != nil {
		return exitUsage, err
	}
	if strings.ContainsAny(*opID, "/?# ") {
		return exitUsage, usagef("retry: invalid operation id %q", *opID)
	}
	if *opID != "" {
		// The operation must be the delivery's: a mistyped receipt or id
		// must not retry something else.
		_, op, err := client.Operation(ctx, *opID)
		if err != nil {
			return exitUsage, err
		}
		if op.ReceiptID != receipt {
			return exitUsage, fmt.Errorf("retry: %w: operation %s is of delivery %s, not %s", ErrNotFound, *opID, op.ReceiptID, receipt)
		}
		body, op, err := client.RetryOperation(ctx, *opID)
		if err != nil {
			return exitUsage, err
		}
		if *raw {
			return writeRaw(c.stdout, body)
		}
		fmt.Fprintf(c.stdout, "Retried operation %s (%s %s, line %d): now %s, %d earlier attempts\n",
			op.ID, op.ResourceType, op.ResourceKey, op.Line, op.State, op.RetryCount)
		return exitOK, nil
	}
	body, res, err := client.RetryDelivery(ctx, receipt)
	if err != nil {
		return exitUsage, err
	}
	if *raw {
		return writeRaw(c.stdout, body)
	}
	fmt.Fprintf(c.stdout, "Retried %d rejected %s of delivery %s\n", res.Retried, plural(res.Retried, "operation", "operations"), receipt)
	return exitOK, nil
}

// printJob writes the job view of a delivery as a human-readable block.
func printJob(w io.Writer, j Job) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(label, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{label + ":"}, args...)...)
	}
	line("Receipt", "%s", j.ReceiptID)
	line("Job status", "%s", j.Status)
	line("Status", "%s (%d)", j.DeliveryStatus, j.DeliveryStatusCode)
	line("Merchant", "%s", j.MerchantID)
	line("Items", "%d received, %d succeeded, %d failed, %d in review, %d processing",
		j.ItemsReceived, j.ItemsSucceeded, j.ItemsFailed, j.ItemsInReview, j.ItemsProcessing)
	line("Created", "%s", formatTime(&j.CreatedAt))
	if j.InterruptedAt != nil {
		line("Interrupted", "%s", formatTime(j.InterruptedAt))
	}
	if j.CompletedAt != nil {
		line("Completed", "%s", formatTime(j.CompletedAt))
	}
	tw.Flush()
}

// plural returns one or many by n.
func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
