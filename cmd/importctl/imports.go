package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
)

// maxPage is the largest page the service gives (and the page size of
// imports --all when --limit is not given).
const maxPage = 1000

// imports runs `importctl imports [--status S] [--reference REF] [--limit
// N] [--cursor C] [--all] [--json]`: the deliveries the token sees, newest
// first (GET /v1/imports).
func (c *cli) imports(ctx context.Context, g globals, args []string) (int, error) {
	fs := newFlagSet("imports", "importctl imports [--status S] [--reference REF] [--limit N] [--cursor C] [--all] [--json]", c.stderr)
	g.register(fs.FlagSet)
	status := fs.String("status", "", "only deliveries in this job `status`: "+strings.Join(jobStatuses, ", "))
	reference := fs.String("reference", "", "only deliveries with this foreign key (`ref`, exact)")
	limit := fs.Int("limit", 0, "deliveries per page, 1 to 1000 (default: the service's, 50; with --all 1000)")
	cursor := fs.String("cursor", "", "start at this `cursor` (the nextCursor of an earlier page)")
	all := fs.Bool("all", false, "follow nextCursor to the last page")
	raw := fs.Bool("json", false, "print the JSON body (with --all: every item in one body)")
	if err := parseNoArgs(fs, args); err != nil {
		return exitUsage, err
	}
	q := url.Values{}
	if *status != "" {
		if err := checkJobStatus("imports", *status); err != nil {
			return exitUsage, err
		}
		q.Set("status", *status)
	}
	if *reference != "" {
		q.Set("reference", *reference)
	}
	if err := pageQuery("imports", q, *limit, *cursor, *all); err != nil {
		return exitUsage, err
	}
	client, err := NewClient(g.api, g.token)
	if err != nil {
		return exitUsage, err
	}

	l, err := listPages(ctx, "imports", q, *all, *raw, func(ctx context.Context, q url.Values) ([]byte, Page[Job], error) {
		return client.Imports(ctx, q)
	})
	if err != nil {
		return exitUsage, err
	}
	if *raw {
		return l.writeJSON(c.stdout)
	}
	printImports(c.stdout, l.items)
	if l.more() {
		fmt.Fprintf(c.stderr, "more deliveries: --cursor %s, or --all\n", *l.next)
	}
	return exitOK, nil
}

// printImports writes the deliveries as a table.
func printImports(w io.Writer, jobs []Job) {
	if len(jobs) == 0 {
		fmt.Fprintln(w, "no delivery")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RECEIPT\tSTATUS\tTYPE\tRECEIVED\tSUCCEEDED\tFAILED\tCREATED")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", j.ReceiptID, j.Status, j.ResourceType,
			j.ItemsReceived, j.ItemsSucceeded, j.ItemsFailed, formatTime(&j.CreatedAt))
	}
	tw.Flush()
}
