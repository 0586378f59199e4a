package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/importd/importd/api"
	"github.com/importd/importd/internal/bus"
)

// product runs `importctl product RECEIPT ID [--json]`: the tracking events
// of one record of a delivery, oldest first (GET /import/{receipt}/{id}).
func (c *cli) product(ctx context.Context, g globals, args []string) (int, error) {
	fs := newFlagSet("product", "importctl product RECEIPT ID [--json]", c.stderr)
	g.register(fs.FlagSet)
	raw := fs.Bool("json", false, "print the raw JSON body of GET /import/{receipt}/{id}")
	merchant := merchantFlag(fs)
	pos, err := fs.parseInterspersed(args)
	if err != nil {
		return exitUsage, err
	}
	if len(pos) != 2 {
		return exitUsage, usagef("product: want RECEIPT and ID arguments, got %d argument(s)", len(pos))
	}
	receipt, id := pos[0], pos[1]
	if !bus.ValidReceipt(receipt) {
		return exitUsage, usagef("product: invalid receipt id %q: want 8 to 64 of A-Z a-z 0-9 _ -", receipt)
	}
	if id == "" {
		return exitUsage, usagef("product: empty ID")
	}
	client, err := NewClient(g.api, g.token)
	if err != nil {
		return exitUsage, err
	}
	client.merchant = *merchant
	body, events, err := client.History(ctx, receipt, id)
	if err != nil {
		return exitUsage, err
	}
	if *raw {
		return writeRaw(c.stdout, body)
	}
	printHistory(c.stdout, events)
	return exitOK, nil
}

// printHistory writes the events oldest first as a table: time, tracking
// code, message.
func printHistory(w io.Writer, events []api.EventBody) {
	events = slices.Clone(events)
	slices.SortStableFunc(events, func(a, b api.EventBody) int { return a.Timestamp.Compare(b.Timestamp) })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tCODE\tMESSAGE")
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", e.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z07:00"), e.TrackingCode, oneLine(e.Message))
	}
	tw.Flush()
}

// oneLine replaces the line breaks and tabs of s by spaces, so that it
// stays in its table cell.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
}
