package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/importd/importd/internal/bus"
)

// summary runs `importctl summary [--status S] [--merchant M] [--json]`:
// the deliveries and operation counts per state of every merchant the token
// sees (GET /v1/summary).
func (c *cli) summary(ctx context.Context, g globals, args []string) (int, error) {
	fs := newFlagSet("summary", "importctl summary [--status S] [--merchant M] [--json]", c.stderr)
	g.register(fs.FlagSet)
	status := fs.String("status", "", "count only deliveries in this job `status`: "+strings.Join(jobStatuses, ", "))
	merchant := fs.String("merchant", "", "count only this merchant's deliveries (`id`; operator tokens only)")
	raw := fs.Bool("json", false, "print the raw JSON body of GET /v1/summary")
	if err := parseNoArgs(fs, args); err != nil {
		return exitUsage, err
	}
	q := url.Values{}
	if *status != "" {
		if err := checkJobStatus("summary", *status); err != nil {
			return exitUsage, err
		}
		q.Set("status", *status)
	}
	if *merchant != "" {
		if !bus.ValidMerchant(*merchant) {
			return exitUsage, usagef("summary: invalid merchant id %q: want 1 to 64 of A-Z a-z 0-9 _ -", *merchant)
		}
		q.Set("merchantId", *merchant)
	}
	client, err := NewClient(g.api, g.token)
	if err != nil {
		return exitUsage, err
	}
	body, s, err := client.Summary(ctx, q)
	if err != nil {
		return exitUsage, err
	}
	if *raw {
		return writeRaw(c.stdout, body)
	}
	printSummary(c.stdout, s)
	return exitOK, nil
}

// printSummary writes the summary as a table: one row per merchant, the
// deliveries and the operations in each state, then the total. Names are
// aligned left, numbers right.
func printSummary(w io.Writer, s Summary) {
	merchants := slices.Clone(s.Merchants)
	slices.SortStableFunc(merchants, func(a, b SummaryRow) int { return strings.Compare(a.MerchantID, b.MerchantID) })
	const totalName = "TOTAL"
	nameWidth := len("MERCHANT")
	for _, m := range merchants {
		nameWidth = max(nameWidth, len(m.MerchantID))
	}
	// Right-aligned cells of no padding: the name column is padded to one
	// width beforehand (so that it reads aligned left) and every other cell
	// carries its own two spaces of separation.
	tw := tabwriter.NewWriter(w, 0, 0, 0, ' ', tabwriter.AlignRight)
	cells := []string{fmt.Sprintf("%-*s", nameWidth, "MERCHANT"), "  DELIVERIES"}
	for _, st := range opStates {
		cells = append(cells, "  "+st)
	}
	fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	row := func(name string, r SummaryRow) {
		cells := []string{fmt.Sprintf("%-*s", nameWidth, name), fmt.Sprintf("  %d", r.Deliveries)}
		for _, st := range opStates {
			cells = append(cells, fmt.Sprintf("  %d", r.Operations[st]))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	for _, m := range merchants {
		row(m.MerchantID, m)
	}
	row(totalName, s.Total)
	tw.Flush()
}

// checkJobStatus checks a --status flag of the command against the job
// statuses.
func checkJobStatus(cmd, status string) error {
	if !slices.Contains(jobStatuses, status) {
		return usagef("%s: invalid --status %q: want one of %s", cmd, status, strings.Join(jobStatuses, ", "))
	}
	return nil
}

// parseNoArgs parses a command's flags and refuses any argument.
func parseNoArgs(fs *flagSet, args []string) error {
	pos, err := fs.parseInterspersed(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("%s: want no argument, got %q", fs.Name(), pos)
	}
	return nil
}

// writeRaw prints a body as the service sent it, ending in one newline.
func writeRaw(w io.Writer, body []byte) (int, error) {
	if _, err := fmt.Fprintf(w, "%s\n", trimNewline(body)); err != nil {
		return exitUsage, fmt.Errorf("write the answer: %w", err)
	}
	return exitOK, nil
}
