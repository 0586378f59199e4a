package api

import (
	"context"
	"crypto/sha256"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/tracking"
)

// Console is the query service's read model and actions for another front
// end of the same process, the operator's web console (package console):
// the functions the /v1 handlers call, scoped by the same rules, without
// their HTTP answers. A scope is a merchant id, or tracking.Operator for
// all; Scope turns a token into one.
type Console struct{ s *Server }

// Console returns the service's read model for the web console.
func (s *Server) Console() *Console { return &Console{s: s} }

// HandleUI mounts a front end's handler (the web console) at pattern. It
// authenticates its requests itself (Console.Scope), so the service's
// bearer authentication is not applied; the pattern is recorded with the
// API's routes.
func (s *Server) HandleUI(pattern string, h http.Handler) { s.route(pattern, h) }

// Open reports whether the service runs without tokens (dev mode), where
// every request is an operator's.
func (c *Console) Open() bool { return c.s.cfg.Tokens == nil }

// Scope returns the scope of a token, as the API's bearer authentication
// does; false for an unknown one. Without tokens every request, with any
// token or none, is an operator's.
func (c *Console) Scope(token string) (string, bool) {
	if c.s.cfg.Tokens == nil {
		return tracking.Operator, true
	}
	return c.s.cfg.Tokens.Merchant(token)
}

// JetStream is the service's JetStream context, nil without one.
func (c *Console) JetStream() jetstream.JetStream { return c.s.cfg.JS }

// Now is the store's clock.
func (c *Console) Now() time.Time { return c.s.store.Now() }

// Jobs lists deliveries as GET /v1/imports does; f.Scope must be set.
func (c *Console) Jobs(ctx context.Context, f JobFilter, after string, limit int) (Page[Job], error) {
	return c.s.views.Jobs(ctx, f, after, limit)
}

// Delivery reads a delivery and its counts as GET /import/{receiptId}/status
// does: tracking.ErrNotFound, or a *tracking.AmbiguousError when an
// operator's receipt names deliveries of several merchants and merchant is
// empty.
func (c *Console) Delivery(ctx context.Context, scope, merchant, receipt string) (*tracking.Delivery, tracking.Counts, error) {
	return c.s.findDelivery(ctx, scope, merchant, receipt, c.s.store.DeliveryCounts)
}

// Job returns the job object of a delivery Delivery returned, in detail
// (errors by code, missing references, the callback's state).
func (c *Console) Job(ctx context.Context, d *tracking.Delivery) (Job, error) {
	return c.s.views.Job(ctx, d, true)
}

// Operations lists a delivery's operations as GET
// /v1/imports/{receiptId}/operations does.
func (c *Console) Operations(ctx context.Context, d *tracking.Delivery, f OperationFilter, after string, limit int) (Page[OperationView], error) {
	return c.s.views.Operations(ctx, d, f, after, limit)
}

// Operation reads an operation as GET /v1/operations/{id} does, with its
// delivery; tracking.ErrNotFound when there is none within scope.
func (c *Console) Operation(ctx context.Context, scope, id string) (*OperationView, *tracking.Delivery, error) {
	o, err := c.s.findOperation(ctx, scope, id)
	if err != nil {
		return nil, nil, err
	}
	d, err := c.s.store.DeliveryAt(ctx, o.ReceiptID, o.DeliveryAt)
	if err != nil {
		return nil, nil, err
	}
	return o, &d, nil
}

// History returns a record's events as GET /import/{receiptId}/{productId}
// does.
func (c *Console) History(ctx context.Context, d *tracking.Delivery, key, after string, limit int) ([]EventBody, string, error) {
	return c.s.views.History(ctx, d, key, after, limit)
}

// Overview counts deliveries and operations per state within scope, as GET
// /v1/summary does.
func (c *Console) Overview(ctx context.Context, scope string) (Overview, error) {
	return c.s.views.Overview(ctx, scope, "")
}

// Cancel cancels a delivery as POST /v1/imports/{receiptId}/cancel does;
// tracking.ErrCompleted when it is completed.
func (c *Console) Cancel(ctx context.Context, d *tracking.Delivery) error {
	_, err := c.s.cancelDelivery(ctx, d)
	return err
}

// Retry retries a delivery's rejected operations as POST
// /v1/imports/{receiptId}/retry does; a *tracking.StateError when it may
// not be.
func (c *Console) Retry(ctx context.Context, d *tracking.Delivery) (int, error) {
	return c.s.retryRejected(ctx, d)
}

// ServeErrorsCSV answers errors.csv of a delivery Delivery returned, as GET
// /v1/imports/{receiptId}/errors.csv does, within the same bounds on
// streamed responses: the token's (its API requests and the console's
// count together) and the service's.
func (c *Console) ServeErrorsCSV(w http.ResponseWriter, r *http.Request, d *tracking.Delivery, token string) {
	c.serveIssuesCSV(w, r, d, token, store.IssueErrors)
}

// ServeWarningsCSV answers warnings.csv of a delivery as GET
// /v1/imports/{receiptId}/warnings.csv does, within the same bounds as
// ServeErrorsCSV.
func (c *Console) ServeWarningsCSV(w http.ResponseWriter, r *http.Request, d *tracking.Delivery, token string) {
	c.serveIssuesCSV(w, r, d, token, store.IssueWarnings)
}

func (c *Console) serveIssuesCSV(w http.ResponseWriter, r *http.Request, d *tracking.Delivery, token string, kind store.Issues) {
	c.serveStreamed(w, r, token, func(w http.ResponseWriter, r *http.Request) { c.s.writeIssuesCSV(w, r, d, kind) })
}

// ServeInputs answers the body of a delivery as GET
// /v1/imports/{receiptId}/inputs does, within the same bounds as
// ServeErrorsCSV.
func (c *Console) ServeInputs(w http.ResponseWriter, r *http.Request, d *tracking.Delivery, token string) {
	c.serveStreamed(w, r, token, func(w http.ResponseWriter, r *http.Request) { c.s.writeInputs(w, r, d) })
}

// serveStreamed runs h as a streamed response counted against token.
func (c *Console) serveStreamed(w http.ResponseWriter, r *http.Request, token string, h http.HandlerFunc) {
	id := ""
	if c.s.cfg.Tokens != nil {
		digest := sha256.Sum256([]byte(token))
		id = string(digest[:])
	}
	ctx := context.WithValue(r.Context(), tokenKey{}, id)
	c.s.streamed(h)(w, r.WithContext(ctx))
}
