package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
)

// operations runs `importctl operations RECEIPT [--state S]
// [--resource-type T] [--resource-key K] [--limit N] [--cursor C] [--all]
// [--json]`: the operations of a delivery in delivery order
// (GET /v1/imports/{receipt}/operations), a page at a time or, with --all,
// every page the cursor leads to.
func (c *cli) operations(ctx context.Context, g globals, args []string) (int, error) {
	fs := newFlagSet("operations", "importctl operations RECEIPT [--state S] [--resource-type T] [--resource-key K] [--limit N] [--cursor C] [--all] [--json]", c.stderr)
	g.register(fs.FlagSet)
	state := fs.String("state", "", "only operations in this `state`: "+strings.Join(opStates, ", "))
	resourceType := fs.String("resource-type", "", "only records of this resource `type`")
	resourceKey := fs.String("resource-key", "", "only records with this `key` (the sku of a ProductVariant or InventoryEntry)")
	limit := fs.Int("limit", 0, "operations per page, 1 to 1000 (default: the service's, 50; with --all 1000)")
	cursor := fs.String("cursor", "", "start at this `cursor` (the nextCursor of an earlier page)")
	all := fs.Bool("all", false, "follow nextCursor to the last page")
	raw := fs.Bool("json", false, "print the JSON body (with --all: every item in one body)")
	client, receipt, err := receiptClient(fs, &g, args)
	if err != nil {
		return exitUsage, err
	}
	q := url.Values{}
	if *state != "" {
		if !slices.Contains(opStates, *state) {
			return exitUsage, usagef("operations: invalid --state %q: want one of %s", *state, strings.Join(opStates, ", "))
		}
		q.Set("state", *state)
	}
	if *resourceType != "" {
		q.Set("resourceType", *resourceType)
	}
	if *resourceKey != "" {
		q.Set("resourceKey", *resourceKey)
	}
	if err := pageQuery("operations", q, *limit, *cursor, *all); err != nil {
		return exitUsage, err
	}

	l, err := listPages(ctx, "operations", q, *all, *raw, func(ctx context.Context, q url.Values) ([]byte, Page[Operation], error) {
		return client.Operations(ctx, receipt, q)
	})
	if err != nil {
		return exitUsage, err
	}
	if *raw {
		return l.writeJSON(c.stdout)
	}
	printOperations(c.stdout, l.items)
	if l.more() {
		fmt.Fprintf(c.stderr, "more operations: --cursor %s, or --all\n", *l.next)
	}
	return exitOK, nil
}

// detailWidth bounds the last column of the operations table.
const detailWidth = 120

// printOperations writes the operations as a table, one a line.
func printOperations(w io.Writer, ops []Operation) {
	if len(ops) == 0 {
		fmt.Fprintln(w, "no operation")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tLINE\tTYPE\tKEY\tSTATE\tRETRIES\tDETAIL")
	for _, op := range ops {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%s\n", op.ID, op.Line, op.ResourceType, oneLine(op.ResourceKey),
			op.State, op.RetryCount, truncate(oneLine(operationDetail(op)), detailWidth))
	}
	tw.Flush()
}

// operationDetail says in a line why an operation is where it is: its first
// error (and how many more), the references it waits for, or its last
// event's message.
func operationDetail(op Operation) string {
	switch {
	case len(op.Errors) > 0:
		d := opErrorText(op.Errors[0])
		if n := len(op.Errors) - 1; n > 0 {
			// Cut the error, not the count of the others.
			more := fmt.Sprintf(" (+%d more)", n)
			d = truncate(oneLine(d), detailWidth-len(more)) + more
		}
		return d
	case len(op.UnresolvedReferences) > 0:
		return "waits for " + refsText(op.UnresolvedReferences)
	default:
		if ev, ok := lastEvent(op); ok {
			return ev.Message
		}
		return ""
	}
}

// opErrorText is an error or warning as one line: code, field, description.
func opErrorText(e OpError) string {
	s := e.Code
	if e.Field != "" {
		s += " " + e.Field
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// opEvent is the lastEvent of an operation.
type opEvent struct {
	TrackingID   string `json:"trackingId"`
	TrackingCode int    `json:"trackingCode"`
	Message      string `json:"message"`
}

// lastEvent decodes the operation's last event, if it has one.
func lastEvent(op Operation) (opEvent, bool) {
	var ev opEvent
	if len(op.LastEvent) == 0 || string(op.LastEvent) == "null" || json.Unmarshal(op.LastEvent, &ev) != nil {
		return ev, false
	}
	return ev, ev.TrackingCode != 0 || ev.Message != ""
}

// operation runs `importctl operation ID [--json]`: one operation
// (GET /v1/operations/{id}) and the tracking history of its record
// (GET /import/{receipt}/{key}). The API keeps histories per record key,
// not per operation: when the delivery has several records of the key,
// their events come together, and a note on stderr says so.
func (c *cli) operation(ctx context.Context, g globals, args []string) (int, error) {
	fs := newFlagSet("operation", "importctl operation ID [--json]", c.stderr)
	g.register(fs.FlagSet)
	raw := fs.Bool("json", false, `print {"operation": …, "history": […]}: the service's operation object and the record's events`)
	pos, err := fs.parseInterspersed(args)
	if err != nil {
		return exitUsage, err
	}
	if len(pos) != 1 {
		return exitUsage, usagef("operation: want one ID argument, got %d", len(pos))
	}
	id := pos[0]
	if id == "" || strings.ContainsAny(id, "/?# ") {
		return exitUsage, usagef("operation: invalid operation id %q", id)
	}
	client, err := NewClient(g.api, g.token)
	if err != nil {
		return exitUsage, err
	}
	body, op, err := client.Operation(ctx, id)
	if err != nil {
		return exitUsage, err
	}
	// The operation names its delivery's merchant: an operator's token
	// needs it for a receipt several merchants used.
	client.merchant = op.MerchantID
	key := op.ResourceKey
	if key == "" {
		key = fmt.Sprintf("line:%d", op.Line)
	}
	history, events, err := client.History(ctx, op.ReceiptID, key)
	if errors.Is(err, ErrNotFound) { // no event (yet): an empty history
		history, events, err = []byte("[]"), nil, nil
	}
	if err != nil {
		return exitUsage, err
	}
	if shared := c.sharedKey(ctx, client, op, key); shared > 1 {
		fmt.Fprintf(c.stderr, "note: %d records of delivery %s have the key %s; the history shows the events of them all\n",
			shared, op.ReceiptID, key)
	}
	if *raw {
		out, err := json.Marshal(struct {
			Operation json.RawMessage `json:"operation"`
			History   json.RawMessage `json:"history"`
		}{trimNewline(body), trimNewline(history)})
		if err != nil {
			return exitUsage, fmt.Errorf("operation: %w", err)
		}
		return writeRaw(c.stdout, out)
	}
	printOperation(c.stdout, op)
	fmt.Fprintf(c.stdout, "\nHistory of %s %s:\n", op.ResourceType, key)
	if len(events) == 0 {
		fmt.Fprintln(c.stdout, "no event")
		return exitOK, nil
	}
	printHistory(c.stdout, events)
	return exitOK, nil
}

// sharedKey returns how many records of the operation's delivery have its
// key (up to 2 are enough to tell), or 0 when the service does not say.
func (c *cli) sharedKey(ctx context.Context, client *Client, op Operation, key string) int {
	if key != op.ResourceKey {
		return 0 // line:N names one record
	}
	_, page, err := client.Operations(ctx, op.ReceiptID, url.Values{"resourceKey": {key}, "limit": {"2"}})
	if err != nil {
		return 0
	}
	return len(page.Items)
}

// printOperation writes an operation as a human-readable block.
func printOperation(w io.Writer, op Operation) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(label, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{label + ":"}, args...)...)
	}
	line("Operation", "%s", op.ID)
	line("Delivery", "%s (merchant %s)", op.ReceiptID, op.MerchantID)
	line("Record", "%s %s, line %d", op.ResourceType, op.ResourceKey, op.Line)
	line("State", "%s (ingestion status %s)", op.State, op.IngestionStatus)
	line("Retries", "%d", op.RetryCount)
	line("Created", "%s", formatTime(&op.CreatedAt))
	line("Modified", "%s", formatTime(&op.LastModifiedAt))
	if op.ExpiresAt != nil {
		line("Expires", "%s", formatTime(op.ExpiresAt))
	}
	if ev, ok := lastEvent(op); ok {
		line("Last event", "%d %s", ev.TrackingCode, oneLine(ev.Message))
	}
	list := func(label string, errs []OpError) {
		for i, e := range errs {
			if i == 0 {
				label += ":"
			} else {
				label = "" // the lines that follow the first are under it
			}
			fmt.Fprintf(tw, "%s\t%s\n", label, oneLine(opErrorText(e)))
		}
	}
	list("Errors", op.Errors)
	list("Warnings", op.Warnings)
	if len(op.UnresolvedReferences) > 0 {
		line("Waits for", "%s", refsText(op.UnresolvedReferences))
	}
	tw.Flush()
}

// refsText lists key references as "typeId key, …".
func refsText(refs []KeyRef) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = r.TypeID + " " + r.Key
	}
	return strings.Join(s, ", ")
}

// Operations returns one page of GET /v1/imports/{receipt}/operations with
// the query.
func (c *Client) Operations(ctx context.Context, receipt string, query url.Values) ([]byte, Page[Operation], error) {
	var p Page[Operation]
	raw, err := c.call(ctx, http.MethodGet, "/v1/imports/"+url.PathEscape(receipt)+"/operations", query,
		"operations of "+receipt, "no delivery with receipt "+receipt, &p)
	return raw, p, err
}
