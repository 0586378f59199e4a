package main

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/importd/importd/api"
	"github.com/importd/importd/tracking"
)

// Errors of the query API, matched with errors.Is.
var (
	// ErrNotFound means the service knows no delivery with the receipt (or
	// it belongs to another merchant, which the service does not tell apart).
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized means the service refused the bearer token.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrConflict means the service refused an action in the current state
	// of the delivery or operation (HTTP 409): canceling a completed
	// delivery, retrying an operation that is not rejected.
	ErrConflict = errors.New("refused")
	// ErrGone means the service no longer has what was asked for, though
	// it knows it (HTTP 410): a delivery's body importd did not keep.
	ErrGone = errors.New("gone")
	// ErrUnreachable means no answer came from the service: the connection
	// was refused or timed out, or the name did not resolve. For submit, the
	// same of the NATS servers.
	ErrUnreachable = errors.New("unreachable")
)

// httpTimeout bounds every request to the query service.
const httpTimeout = 30 * time.Second

// maxResponse bounds the body of a status response read into memory.
const maxResponse = 1 << 20

// HTTPError is an answer of the query service other than success, 401 and
// 404.
type HTTPError struct {
	Code    int    // HTTP status code
	Message string // the service's "detail" or "error" member, or the start of the body
}

func (e *HTTPError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("HTTP %d %s", e.Code, http.StatusText(e.Code))
	}
	return fmt.Sprintf("HTTP %d: %s", e.Code, e.Message)
}

// Client calls the query service. It is safe for concurrent use.
type Client struct {
	base  string // base URL without a trailing slash
	token string
	http  *http.Client
	// stream is for bodies copied through (errors.csv), which may take
	// longer than httpTimeout to arrive in full: only the wait for the
	// answer's headers is bounded.
	stream *http.Client
	// merchant, when set, names the merchant of the receipts asked for
	// (?merchantId=): an operator's token needs it for a receipt several
	// merchants used.
	merchant string
}

// NewClient returns a client of the query service at base (an http or https
// URL), sending token as a bearer token when it is not empty.
func NewClient(base, token string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--api %q: want an http:// or https:// URL", base)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.ResponseHeaderTimeout = httpTimeout
	return &Client{
		base:   strings.TrimRight(base, "/"),
		token:  token,
		http:   &http.Client{Timeout: httpTimeout},
		stream: &http.Client{Transport: transport},
	}, nil
}

// StatusRaw returns the body of GET /import/{receipt}/status as the service
// sent it, and the status it holds. A delivery in IngestionFailure, which
// the service answers with HTTP 500 and the same body, is a success here.
func (c *Client) StatusRaw(ctx context.Context, receipt string) ([]byte, tracking.StatusBody, error) {
	var body tracking.StatusBody
	path := "/import/" + url.PathEscape(receipt) + "/status"
	code, raw, err := c.get(ctx, path)
	if err != nil {
		return nil, body, err
	}
	switch {
	case code == http.StatusOK, code == http.StatusInternalServerError && isIngestionFailure(raw):
		if err := json.Unmarshal(raw, &body); err != nil {
			return nil, body, fmt.Errorf("status of %s: decode the answer of %s: %w", receipt, c.base, err)
		}
		return raw, body, nil
	case code == http.StatusNotFound:
		return nil, body, fmt.Errorf("%w: no delivery with receipt %s", ErrNotFound, receipt)
	case code == http.StatusUnauthorized:
		return nil, body, fmt.Errorf("%w: %s refused the token (set --token or IMPORTD_TOKEN)", ErrUnauthorized, c.base)
	default:
		return nil, body, fmt.Errorf("status of %s: %w", receipt, &HTTPError{Code: code, Message: errorMessage(raw)})
	}
}

// Status returns the status of the delivery with the receipt.
func (c *Client) Status(ctx context.Context, receipt string) (tracking.StatusBody, error) {
	_, body, err := c.StatusRaw(ctx, receipt)
	return body, err
}

// get sends GET path and returns the status code and (up to maxResponse of)
// the body.
func (c *Client) get(ctx context.Context, path string) (int, []byte, error) {
	return c.do(ctx, http.MethodGet, path, nil)
}

// do sends the request (without a body) and returns the status code and (up
// to maxResponse of) the body.
func (c *Client) do(ctx context.Context, method, path string, query url.Values) (int, []byte, error) {
	code, _, raw, err := c.doHeader(ctx, method, path, query)
	return code, raw, err
}

// doHeader is do with the answer's header.
func (c *Client) doHeader(ctx context.Context, method, path string, query url.Values) (int, http.Header, []byte, error) {
	resp, err := c.send(ctx, c.http, method, path, query)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("query service: read the answer to %s %s: %w", method, path, err)
	}
	return resp.StatusCode, resp.Header, raw, nil
}

// send sends the request with hc and returns the response, whose body the
// caller closes.
func (c *Client) send(ctx context.Context, hc *http.Client, method, path string, query url.Values) (*http.Response, error) {
	return c.sendWith(ctx, hc, method, path, query, nil)
}

// sendWith is send with more request headers.
func (c *Client) sendWith(ctx context.Context, hc *http.Client, method, path string, query url.Values, hdr http.Header) (*http.Response, error) {
	target := c.base + path
	if c.merchant != "" && (strings.HasPrefix(path, "/import/") || strings.HasPrefix(path, "/v1/imports/")) {
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		q.Set("merchantId", c.merchant)
		query = q
	}
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", "importctl")
	for k, v := range hdr {
		req.Header[k] = v
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil { // Ctrl-C or a --timeout: not the service's fault
			return nil, fmt.Errorf("query service: %w", err)
		}
		return nil, fmt.Errorf("query service at %s %w: %w", c.base, ErrUnreachable, err)
	}
	return resp, nil
}

// call sends the request and decodes a 200 answer into out (unless out is
// nil), returning the body as the service sent it. Any other answer is an
// error: ErrUnauthorized, ErrNotFound (saying missing), ErrConflict or an
// HTTPError, each described by what.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, what, missing string, out any) ([]byte, error) {
	code, raw, err := c.do(ctx, method, path, query)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, c.answerError(code, raw, what, missing)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("%s: decode the answer of %s: %w", what, c.base, err)
		}
	}
	return raw, nil
}

// answerError is the error of an answer other than 200 to the request for
// what; missing says what a 404 means.
func (c *Client) answerError(code int, raw []byte, what, missing string) error {
	switch code {
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s", ErrNotFound, missing)
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: %s refused the token (set --token or IMPORTD_TOKEN)", ErrUnauthorized, c.base)
	case http.StatusConflict:
		return fmt.Errorf("%s: %w: %s", what, ErrConflict, errorMessage(raw))
	case http.StatusGone:
		return fmt.Errorf("%s: %w: %s", what, ErrGone, errorMessage(raw))
	default:
		return fmt.Errorf("%s: %w", what, &HTTPError{Code: code, Message: errorMessage(raw)})
	}
}

// Job returns the job view of the delivery with the receipt
// (GET /v1/imports/{receipt}) and its body as sent.
func (c *Client) Job(ctx context.Context, receipt string) ([]byte, Job, error) {
	var j Job
	raw, err := c.call(ctx, http.MethodGet, "/v1/imports/"+url.PathEscape(receipt), nil,
		"job "+receipt, "no delivery with receipt "+receipt, &j)
	return raw, j, err
}

// Imports returns one page of GET /v1/imports with the query.
func (c *Client) Imports(ctx context.Context, query url.Values) ([]byte, Page[Job], error) {
	var p Page[Job]
	raw, err := c.call(ctx, http.MethodGet, "/v1/imports", query, "imports", "GET /v1/imports is not served", &p)
	return raw, p, err
}

// Summary returns GET /v1/summary with the query.
func (c *Client) Summary(ctx context.Context, query url.Values) ([]byte, Summary, error) {
	var s Summary
	raw, err := c.call(ctx, http.MethodGet, "/v1/summary", query, "summary", "GET /v1/summary is not served", &s)
	return raw, s, err
}

// History returns the tracking events of one record of a delivery
// (GET /import/{receipt}/{productId}).
func (c *Client) History(ctx context.Context, receipt, productID string) ([]byte, []api.EventBody, error) {
	// The service answers a page at a time; the header names the next.
	path := "/import/" + url.PathEscape(receipt) + "/" + url.PathEscape(productID)
	var all []api.EventBody
	var query url.Values
	for {
		code, hdr, raw, err := c.doHeader(ctx, http.MethodGet, path, query)
		if err != nil {
			return nil, nil, err
		}
		if code != http.StatusOK {
			return nil, nil, c.answerError(code, raw, "history of "+productID, fmt.Sprintf("no event of product %s in delivery %s", productID, receipt))
		}
		var page []api.EventBody
		if err := json.Unmarshal(raw, &page); err != nil {
			return nil, nil, fmt.Errorf("history of %s: decode the answer of %s: %w", productID, c.base, err)
		}
		next := hdr.Get("Importd-Next-Cursor")
		if next == "" && query == nil {
			return raw, page, nil // one page: the body as the service sent it
		}
		all = append(all, page...)
		if next == "" {
			raw, err := json.Marshal(all)
			return raw, all, err
		}
		query = url.Values{"cursor": {next}, "limit": {strconv.Itoa(api.MaxPageLimit)}}
	}
}

// Cancel cancels the delivery with the receipt and returns its job view.
func (c *Client) Cancel(ctx context.Context, receipt string) ([]byte, Job, error) {
	var j Job
	raw, err := c.call(ctx, http.MethodPost, "/v1/imports/"+url.PathEscape(receipt)+"/cancel", nil,
		"cancel "+receipt, "no delivery with receipt "+receipt, &j)
	return raw, j, err
}

// RetryDelivery sends the rejected operations of the delivery back to the
// importer.
func (c *Client) RetryDelivery(ctx context.Context, receipt string) ([]byte, RetryResult, error) {
	var r RetryResult
	raw, err := c.call(ctx, http.MethodPost, "/v1/imports/"+url.PathEscape(receipt)+"/retry", nil,
		"retry "+receipt, "no delivery with receipt "+receipt, &r)
	return raw, r, err
}

// Operation returns the operation with the id (GET /v1/operations/{id}).
func (c *Client) Operation(ctx context.Context, id string) ([]byte, Operation, error) {
	var op Operation
	raw, err := c.call(ctx, http.MethodGet, "/v1/operations/"+url.PathEscape(id), nil,
		"operation "+id, "no operation with id "+id, &op)
	return raw, op, err
}

// RetryOperation sends one rejected operation back to the importer.
func (c *Client) RetryOperation(ctx context.Context, id string) ([]byte, Operation, error) {
	var op Operation
	raw, err := c.call(ctx, http.MethodPost, "/v1/operations/"+url.PathEscape(id)+"/retry", nil,
		"retry operation "+id, "no operation with id "+id, &op)
	return raw, op, err
}

// ErrorsCSV copies GET /v1/imports/{receipt}/errors.csv to w as it arrives.
func (c *Client) ErrorsCSV(ctx context.Context, receipt string, w io.Writer) error {
	path := "/v1/imports/" + url.PathEscape(receipt) + "/errors.csv"
	resp, err := c.send(ctx, c.stream, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		return c.answerError(resp.StatusCode, raw, "errors of "+receipt, "no delivery with receipt "+receipt)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("errors of %s: copy the CSV: %w", receipt, err)
	}
	return nil
}

// Inputs copies the body of delivery receipt as importd received it (GET
// /v1/imports/{receipt}/inputs) to w, gzipped if it came gzipped, unless
// decompress. It returns the body's Content-Encoding ("" or "gzip").
func (c *Client) Inputs(ctx context.Context, receipt string, w io.Writer, decompress bool) (string, error) {
	path := "/v1/imports/" + url.PathEscape(receipt) + "/inputs"
	// Asking for gzip ourselves keeps the transport from decompressing.
	resp, err := c.sendWith(ctx, c.stream, http.MethodGet, path, nil, http.Header{"Accept-Encoding": {"gzip"}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		return "", c.answerError(resp.StatusCode, raw, "inputs of "+receipt, "no delivery with receipt "+receipt)
	}
	enc := resp.Header.Get("Content-Encoding")
	var body io.Reader = resp.Body
	if decompress && strings.EqualFold(enc, "gzip") {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return enc, fmt.Errorf("inputs of %s: %w", receipt, err)
		}
		defer zr.Close()
		body = zr
	}
	if _, err := io.Copy(w, body); err != nil {
		return enc, fmt.Errorf("inputs of %s: copy the body: %w", receipt, err)
	}
	return enc, nil
}

// isIngestionFailure reports whether raw is a status body in IngestionFailure.
func isIngestionFailure(raw []byte) bool {
	var probe struct {
		StatusCode int `json:"StatusCode"`
	}
	return json.Unmarshal(raw, &probe) == nil && probe.StatusCode == tracking.StatusIngestionFailure.Code
}

// errorMessage returns what an error body says: the "detail" of an RFC 9457
// problem (application/problem+json), else the "error" member of the
// service's older bodies (both are sent while clients move over), else the
// problem's "title", else the start of the body.
func errorMessage(raw []byte) string {
	var e struct {
		Detail string `json:"detail"`
		Error  string `json:"error"`
		Title  string `json:"title"`
	}
	if json.Unmarshal(raw, &e) == nil {
		for _, m := range []string{e.Detail, e.Error, e.Title} {
			if m = strings.TrimSpace(m); m != "" {
				return m
			}
		}
	}
	s := strings.TrimSpace(string(raw))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// transient reports whether err may go away by asking again: the service is
// unreachable or overloaded, or restarting. Watch retries those for a while.
func transient(err error) bool {
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnauthorized) {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Code >= 500 || he.Code == http.StatusTooManyRequests
	}
	var ue *url.Error
	return errors.As(err, &ue)
}
