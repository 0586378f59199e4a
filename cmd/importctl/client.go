package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/importd/importd/tracking"
)

// Errors of the query API, matched with errors.Is.
var (
	// ErrNotFound means the service knows no delivery with the receipt (or
	// it belongs to another merchant, which the service does not tell apart).
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized means the service refused the bearer token.
	ErrUnauthorized = errors.New("unauthorized")
)

// httpTimeout bounds every request to the query service.
const httpTimeout = 30 * time.Second

// maxResponse bounds the body of a status response read into memory.
const maxResponse = 1 << 20

// HTTPError is an answer of the query service other than success, 401 and
// 404.
type HTTPError struct {
	Code    int    // HTTP status code
	Message string // the service's "error" field, or the start of the body
}

func (e *HTTPError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("HTTP %d %s", e.Code, http.StatusText(e.Code))
	}
	return fmt.Sprintf("HTTP %d: %s", e.Code, e.Message)
}

// Client calls the query service (DESIGN §7). It is safe for concurrent use.
type Client struct {
	base  string // base URL without a trailing slash
	token string
	http  *http.Client
}

// NewClient returns a client of the query service at base (an http or https
// URL), sending token as a bearer token when it is not empty.
func NewClient(base, token string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--api %q: want an http:// or https:// URL", base)
	}
	return &Client{
		base:  strings.TrimRight(base, "/"),
		token: token,
		http:  &http.Client{Timeout: httpTimeout},
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "importctl")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("query service: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return 0, nil, fmt.Errorf("query service: read the answer to GET %s: %w", path, err)
	}
	return resp.StatusCode, raw, nil
}

// isIngestionFailure reports whether raw is a status body in IngestionFailure.
func isIngestionFailure(raw []byte) bool {
	var probe struct {
		StatusCode int `json:"StatusCode"`
	}
	return json.Unmarshal(raw, &probe) == nil && probe.StatusCode == tracking.StatusIngestionFailure.Code
}

// errorMessage returns the "error" field of an error body, or its start.
func errorMessage(raw []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		return e.Error
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
