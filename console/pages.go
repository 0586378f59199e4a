package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/importd/importd/api"
	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

// pageNames are the templates under templates/, each with the layout.
var pageNames = []string{"signin", "error", "deliveries", "delivery", "ambiguous", "confirm", "operations", "operation", "overview"}

func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render answers a page, rendered in full before the first byte so that a
// failure is an error page, not half of one.
func (c *Console) render(w http.ResponseWriter, r *http.Request, code int, page string, s *session, data map[string]any) {
	data["Session"] = s
	data["Open"] = c.reads.Open()
	data["Refresh"] = fmt.Sprintf("every %gs", c.cfg.Refresh.Seconds())
	data["Now"] = c.reads.Now()
	if s != nil {
		data["Operator"] = s.Scope == tracking.Operator
	}
	var buf bytes.Buffer
	if err := c.pages[page].ExecuteTemplate(&buf, "layout.html", data); err != nil {
		c.logger.Error("console page not rendered", zap.String("page", page), zap.Error(err))
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

var funcs = template.FuncMap{
	"age":     age,
	"until":   until,
	"pct":     pct,
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"clock":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") },
	"deref":   func(s *string) string { return derefOr(s, "") },
	"query":   query,
	"lower":   strings.ToLower,
}

func derefOr(s *string, or string) string {
	if s == nil {
		return or
	}
	return *s
}

// query builds a query string of key, value pairs, leaving out empty values.
func query(kv ...string) template.URL {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return ""
	}
	return template.URL("?" + q.Encode()) // encoded by url.Values
}

// age is how long ago t was, roughly.
func age(now, t time.Time) string { return roughly(now.Sub(t)) }

// until is how long until t, roughly; "–" for nil.
func until(now time.Time, t *time.Time) string {
	if t == nil {
		return "–"
	}
	if !t.After(now) {
		return "any moment"
	}
	return "in " + roughly(t.Sub(now))
}

func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

func pct(n, total int64) string {
	if total == 0 {
		return "0"
	}
	return fmt.Sprintf("%.0f", math.Floor(100*float64(n)/float64(total)))
}

var jobStatuses = []string{"pending", "in_progress", "interrupted", "completed"}

// row is a delivery of the deliveries page.
type row struct {
	api.Job
	Done int64
	ETA  *time.Time
}

func (c *Console) deliveries(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	q := r.URL.Query()
	f := api.JobFilter{Scope: s.Scope, Status: q.Get("status"), Reference: q.Get("reference")}
	if s.Scope == tracking.Operator {
		f.Merchant = q.Get("merchant")
	}
	var problem string
	if f.Status != "" && !tracking.ValidJobStatus(f.Status) {
		problem, f.Status = "Unknown status "+f.Status+"; showing all.", ""
	}
	if f.Merchant != "" && !bus.ValidMerchant(f.Merchant) {
		problem, f.Merchant = "A merchant id is letters, digits, _ and - only; showing all.", ""
	}
	page, err := c.reads.Jobs(r.Context(), f, q.Get("cursor"), c.cfg.PageSize)
	if errors.Is(err, api.ErrBadCursor) {
		page, err = c.reads.Jobs(r.Context(), f, "", c.cfg.PageSize)
		problem = "That page is no longer there; showing the first."
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	rows := make([]row, len(page.Items))
	for i, j := range page.Items {
		rows[i] = row{Job: j, Done: j.ProcessedCount}
		if j.CompletedAt == nil && j.Status != "interrupted" {
			rows[i].ETA = j.EstimatedCompletionAt
		}
	}
	next := ""
	if page.NextCursor != nil {
		next = *page.NextCursor
	}
	c.render(w, r, http.StatusOK, "deliveries", s, map[string]any{
		"Rows": rows, "Filter": f, "Statuses": jobStatuses, "Next": next, "Paged": q.Get("cursor") != "",
		"Problem": problem, "Self": r.URL.RequestURI(),
	})
}

// findDelivery reads the delivery of the path within the session's scope,
// answering itself when there is none or the receipt is ambiguous.
func (c *Console) findDelivery(w http.ResponseWriter, r *http.Request) (*tracking.Delivery, tracking.Counts, bool) {
	s := sessionOf(r)
	receipt := r.PathValue("receiptId")
	d, counts, err := c.reads.Delivery(r.Context(), s.Scope, r.URL.Query().Get("merchant"), receipt)
	var amb *tracking.AmbiguousError
	switch {
	case errors.As(err, &amb):
		c.render(w, r, http.StatusConflict, "ambiguous", s, map[string]any{"Receipt": receipt, "Merchants": amb.Merchants, "More": amb.More})
		return nil, counts, false
	case errors.Is(err, tracking.ErrNotFound):
		c.errorPage(w, r, http.StatusNotFound, "There is no delivery with receipt "+receipt+" that you may see.")
		return nil, counts, false
	case err != nil:
		c.fail(w, r, err)
		return nil, counts, false
	}
	return d, counts, true
}

// stateCount is one state of the counts table.
type stateCount struct {
	State, Ingestion string
	N                int64
}

func (c *Console) delivery(w http.ResponseWriter, r *http.Request) {
	d, counts, ok := c.findDelivery(w, r)
	if !ok {
		return
	}
	job, err := c.reads.Job(r.Context(), d)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	now := c.reads.Now()
	st := tracking.StatusOf(d, counts, now)
	states := []stateCount{
		{"processing", "", counts.Queued + counts.Processing}, {"unresolved", "", counts.Unresolved},
		{"waitForMasterVariant", "", counts.Waiting}, {"imported", "", counts.Imported},
		{"partiallyImported", "", counts.Partially}, {"validationFailed", "", counts.ValidationFailed},
		{"rejected", "", counts.Rejected}, {"canceled", "", counts.Canceled},
	}
	// Walmart's ingestion statuses, counted from the states they follow
	// from (a rejection's SYSTEM or TIMEOUT error is told per operation).
	ingestion := map[string]int64{}
	var ingestionOrder []string
	for i, sc := range states {
		is := api.IngestionStatusOf(tracking.State(sc.State), nil)
		states[i].Ingestion = is
		if _, seen := ingestion[is]; !seen {
			ingestionOrder = append(ingestionOrder, is)
		}
		ingestion[is] += sc.N
	}
	// The rate is of the operations finished since the first was picked
	// up, until the delivery completed.
	var rate float64
	if job.StartedAt != nil {
		end := now
		if job.CompletedAt != nil {
			end = *job.CompletedAt
		}
		if secs := end.Sub(*job.StartedAt).Seconds(); secs > 0 {
			rate = float64(job.ProcessedCount) / secs
		}
	}
	var flash string
	switch r.URL.Query().Get("done") {
	case "canceled":
		flash = "The delivery is canceled: its pending operations are canceled."
	case "retried":
		if n, err := strconv.Atoi(r.URL.Query().Get("n")); err == nil && n >= 0 {
			flash = fmt.Sprintf("%d rejected operation(s) sent back to processing.", n)
		}
	}
	merchant := ""
	if sessionOf(r).Scope == tracking.Operator {
		merchant = d.MerchantID
	}
	var groups, warnings []api.ErrorGroup
	var missing []api.MissingReference
	if job.Errors != nil {
		groups = *job.Errors
	}
	if job.Warnings != nil {
		warnings = *job.Warnings
	}
	if job.MissingReferences != nil {
		missing = *job.MissingReferences
	}
	c.render(w, r, http.StatusOK, "delivery", sessionOf(r), map[string]any{
		"D": d, "Job": job, "ErrorGroups": groups, "WarningGroups": warnings, "Missing": missing, "Status": st, "States": states, "Ingestion": ingestion, "IngestionOrder": ingestionOrder,
		"Rate": fmt.Sprintf("%.1f", rate), "Flash": flash, "Merchant": merchant,
		"CanCancel": job.CompletedAt == nil && d.InterruptedAt == nil, "CanRetry": counts.Rejected > 0 && d.InterruptedAt == nil,
		"Self": r.URL.Path + string(query("merchant", merchant)),
	})
}

func (c *Console) errorsCSV(w http.ResponseWriter, r *http.Request) {
	d, _, ok := c.findDelivery(w, r)
	if !ok {
		return
	}
	c.reads.ServeErrorsCSV(w, r, d, sessionOf(r).token)
}

func (c *Console) warningsCSV(w http.ResponseWriter, r *http.Request) {
	d, _, ok := c.findDelivery(w, r)
	if !ok {
		return
	}
	c.reads.ServeWarningsCSV(w, r, d, sessionOf(r).token)
}

// inputs answers the delivery's body as received, as its /v1 inputs does.
func (c *Console) inputs(w http.ResponseWriter, r *http.Request) {
	d, _, ok := c.findDelivery(w, r)
	if !ok {
		return
	}
	c.reads.ServeInputs(w, r, d, sessionOf(r).token)
}

var states = []string{"processing", "unresolved", "waitForMasterVariant", "imported", "partiallyImported", "validationFailed", "rejected", "canceled"}

func (c *Console) operations(w http.ResponseWriter, r *http.Request) {
	d, _, ok := c.findDelivery(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := api.OperationFilter{State: tracking.State(q.Get("state")), ResourceType: q.Get("resourceType"), ResourceKey: q.Get("key")}
	var problem string
	if f.State != "" && !tracking.ValidState(f.State) {
		problem, f.State = "Unknown state "+string(f.State)+"; showing all.", ""
	}
	page, err := c.reads.Operations(r.Context(), d, f, q.Get("cursor"), c.cfg.PageSize)
	if errors.Is(err, api.ErrBadCursor) {
		page, err = c.reads.Operations(r.Context(), d, f, "", c.cfg.PageSize)
		problem = "That page is no longer there; showing the first."
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	next := ""
	if page.NextCursor != nil {
		next = *page.NextCursor
	}
	merchant := ""
	if sessionOf(r).Scope == tracking.Operator {
		merchant = d.MerchantID
	}
	var types []string
	for _, t := range catalog.ResourceTypes {
		types = append(types, string(t))
	}
	c.render(w, r, http.StatusOK, "operations", sessionOf(r), map[string]any{
		"D": d, "Ops": page.Items, "Filter": f, "States": states, "Types": types, "Next": next,
		"Paged": q.Get("cursor") != "", "Problem": problem, "Merchant": merchant,
	})
}

func (c *Console) operation(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	o, d, err := c.reads.Operation(r.Context(), s.Scope, r.PathValue("id"))
	if errors.Is(err, tracking.ErrNotFound) {
		c.errorPage(w, r, http.StatusNotFound, "There is no operation with id "+r.PathValue("id")+" that you may see.")
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	events, next, err := c.reads.History(r.Context(), d, o.ResourceKey, r.URL.Query().Get("cursor"), api.MaxPageLimit)
	if errors.Is(err, api.ErrBadCursor) {
		events, next, err = c.reads.History(r.Context(), d, o.ResourceKey, "", api.MaxPageLimit)
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	merchant := ""
	if s.Scope == tracking.Operator {
		merchant = d.MerchantID
	}
	c.render(w, r, http.StatusOK, "operation", s, map[string]any{"Op": o, "D": d, "Events": events, "Next": next, "Merchant": merchant})
}

// actions are the delivery actions a form may post, with their wording.
var actions = map[string]struct{ Title, Question, Button, Done string }{
	"cancel": {"Cancel delivery", "Cancel this delivery? Its pending operations are canceled and it completes with errors; imported records stay imported. This cannot be undone.", "Cancel the delivery", "canceled"},
	"retry":  {"Retry rejected operations", "Send this delivery's rejected operations back to processing?", "Retry them", "retried"},
}

// confirm asks before an action.
func (c *Console) confirm(w http.ResponseWriter, r *http.Request) {
	a, ok := actions[r.PathValue("action")]
	if !ok {
		c.errorPage(w, r, http.StatusNotFound, "There is no such page.")
		return
	}
	d, counts, ok := c.findDelivery(w, r)
	if !ok {
		return
	}
	merchant := ""
	if sessionOf(r).Scope == tracking.Operator {
		merchant = d.MerchantID
	}
	c.render(w, r, http.StatusOK, "confirm", sessionOf(r), map[string]any{"D": d, "Counts": counts, "A": a,
		"Action": r.PathValue("action"), "Merchant": merchant})
}

// act does a confirmed action and goes back to the delivery.
func (c *Console) act(w http.ResponseWriter, r *http.Request) {
	a, ok := actions[r.PathValue("action")]
	if !ok {
		c.errorPage(w, r, http.StatusNotFound, "There is no such action.")
		return
	}
	d, _, ok := c.findDelivery(w, r)
	if !ok {
		return
	}
	var err error
	done := []string{"done", a.Done}
	switch r.PathValue("action") {
	case "cancel":
		err = c.reads.Cancel(r.Context(), d)
	case "retry":
		var n int
		n, err = c.reads.Retry(r.Context(), d)
		done = append(done, "n", strconv.Itoa(n))
	}
	var se *tracking.StateError
	switch {
	case errors.Is(err, tracking.ErrCompleted):
		c.errorPage(w, r, http.StatusConflict, "Delivery "+d.ReceiptID+" is completed; there is nothing to cancel.")
		return
	case errors.As(err, &se):
		c.errorPage(w, r, http.StatusConflict, se.Error())
		return
	case err != nil:
		c.fail(w, r, err)
		return
	}
	c.logger.Info("console action", zap.String("action", r.PathValue("action")), zap.String("receipt", d.ReceiptID),
		zap.String("merchant", d.MerchantID), zap.String("by", sessionOf(r).Scope))
	merchant := ""
	if sessionOf(r).Scope == tracking.Operator {
		merchant = d.MerchantID
	}
	http.Redirect(w, r, "/ui/deliveries/"+url.PathEscape(d.ReceiptID)+string(query(append([]string{"merchant", merchant}, done...)...)), http.StatusSeeOther)
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r)
	ov, err := c.reads.Overview(r.Context(), s.Scope)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	data := map[string]any{"Overview": ov, "Window": c.cfg.Window.String(), "Every": c.cfg.SampleEvery.String()}
	// Throughput and lag are of every merchant's deliveries: an
	// operator's to see.
	if s.Scope == tracking.Operator {
		now := c.reads.Now()
		smps := c.sampler.samples()
		t, rs := rates(smps)
		data["Rates"] = chart("Records per second, per stage", "records/s", t, rs, c.cfg.Window, now)
		t, ls := lags(smps)
		data["Lags"] = chart("Consumer lag (messages pending or unacknowledged)", "messages", t, ls, c.cfg.Window, now)
		data["Samples"] = len(smps)
	}
	c.render(w, r, http.StatusOK, "overview", s, data)
}
