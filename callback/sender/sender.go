// Package sender calls the URL a delivery names in Import-Callback-Url
// (or POST /v1/imports?callbackUrl=) when the delivery ends: completed,
// failed ingestion, interrupted or expired. The call is a POST of the
// delivery's /status body with its ReceiptId and Event, signed as package
// callback says.
//
// Calls are queued in PostgreSQL in the transaction that ends the delivery
// (see tracking), so none is lost to a crash, and made at least once: until
// the URL answers with a 2xx, with backoff and jitter, for up to MaxAge,
// then given up with a tracking event. Any number of senders may run at
// once: each claims the calls it makes for a lease.
package sender

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.uber.org/zap"

	"github.com/importd/importd/callback"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/tracking"
)

var callsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "importd_callbacks_total",
	Help: "Calls of delivery callback URLs, by outcome (delivered, failed: to be tried again, given_up).",
}, []string{"outcome"})

// Config configures a Sender.
type Config struct {
	// Secret signs every call (IMPORTD_CALLBACK_SECRET). Required.
	Secret []byte
	// Hosts are the hosts calls may go to (IMPORTD_CALLBACK_HOSTS). A URL
	// is checked when its delivery is accepted and again before each call,
	// in case the list changed since.
	Hosts callback.Hosts
	// MaxAge is how long a call is tried before it is given up. Defaults
	// to 24h.
	MaxAge time.Duration
	// Timeout bounds one attempt, response included. Defaults to 10s.
	Timeout time.Duration
	// RetryInitial and RetryMax bound the wait between attempts, which
	// grows by half each time, randomised (bus.RetryDelay). Default to 10s
	// and 1h.
	RetryInitial, RetryMax time.Duration
	// Poll is how often due calls are looked for. Defaults to 1s.
	Poll time.Duration
	// Concurrency is how many calls are made at once. Defaults to 4.
	Concurrency int
	// Transport makes the requests. Defaults to a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
}

func (c *Config) setDefaults() {
	if c.MaxAge == 0 {
		c.MaxAge = 24 * time.Hour
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.RetryInitial == 0 {
		c.RetryInitial = 10 * time.Second
	}
	if c.RetryMax == 0 {
		c.RetryMax = time.Hour
	}
	if c.Poll == 0 {
		c.Poll = time.Second
	}
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	if c.Transport == nil {
		c.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
}

// Sender makes the queued calls.
type Sender struct {
	cfg    Config
	store  *tracking.Store
	client *http.Client
	logger *zap.Logger
}

// New returns a Sender.
func New(cfg Config, st *tracking.Store, logger *zap.Logger) (*Sender, error) {
	cfg.setDefaults()
	switch {
	case len(cfg.Secret) == 0:
		return nil, errors.New("sender: Secret (IMPORTD_CALLBACK_SECRET) is empty: calls could not be verified")
	case st == nil:
		return nil, errors.New("sender: New needs a store")
	case cfg.Concurrency < 1 || cfg.Concurrency > 64:
		return nil, fmt.Errorf("sender: Concurrency %d out of range 1..64", cfg.Concurrency)
	case cfg.Timeout < time.Millisecond || cfg.RetryInitial <= 0 || cfg.RetryMax < cfg.RetryInitial || cfg.MaxAge <= 0 || cfg.Poll <= 0:
		return nil, errors.New("sender: Timeout, RetryInitial ≤ RetryMax, MaxAge and Poll must be positive")
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	client := &http.Client{
		Transport: cfg.Transport,
		Timeout:   cfg.Timeout,
		// A redirect could lead anywhere, past the list of hosts: a 3xx
		// is an answer that is not a 2xx.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Sender{cfg: cfg, store: st, client: client, logger: logger.Named("callback")}, nil
}

// Run makes due calls until ctx is canceled.
func (s *Sender) Run(ctx context.Context) {
	s.logger.Info("callback sender started", zap.String("hosts", s.cfg.Hosts.String()))
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		for ctx.Err() == nil {
			n, err := s.Pass(ctx)
			if err != nil && ctx.Err() == nil {
				s.logger.Warn("looking for due callbacks failed", zap.Error(err))
			}
			if n < s.cfg.Concurrency {
				break // no more due now
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pass claims up to Concurrency due calls, makes them at once and records
// their outcomes; it returns how many it made.
func (s *Sender) Pass(ctx context.Context) (int, error) {
	// The lease outlasts an attempt and its recording.
	due, err := s.store.CallbacksDue(ctx, s.cfg.Timeout+time.Minute, s.cfg.Concurrency)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(due))
	for i, c := range due {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.call(ctx, c)
		}()
	}
	wg.Wait()
	return len(due), errors.Join(errs...)
}

// call makes one attempt of c and records it.
func (s *Sender) call(ctx context.Context, c store.CallbackRow) error {
	log := s.logger.With(zap.String("receipt", c.ReceiptID), zap.String("merchant", c.MerchantID),
		zap.String("event", c.Event), zap.Int("attempt", c.Attempts+1))
	status, cerr := s.post(ctx, c)
	if ctx.Err() != nil {
		return nil // shutting down: the lease hands it to the next sender
	}
	now := time.Now().UTC()
	a := store.CallbackAttempt{At: now, Status: status}
	var msg string
	switch {
	case cerr == nil:
		a.Delivered = true
		msg = fmt.Sprintf("Callback for %s delivered: %d after %d attempts", c.Event, status, c.Attempts+1)
		callsTotal.WithLabelValues("delivered").Inc()
		log.Info("callback delivered", zap.Int("status", status))
	default:
		a.Error = cerr.Error()
		if len(a.Error) > 500 {
			a.Error = a.Error[:500]
		}
		next := now.Add(bus.RetryDelay(c.Attempts+1, s.cfg.RetryInitial, s.cfg.RetryMax))
		if errors.Is(cerr, callback.ErrNotAllowed) || !next.Before(c.CreatedAt.Add(s.cfg.MaxAge)) {
			a.GivenUp = true
			msg = fmt.Sprintf("Callback for %s given up after %d attempts: %s", c.Event, c.Attempts+1, a.Error)
			callsTotal.WithLabelValues("given_up").Inc()
			log.Warn("callback given up", zap.Error(cerr))
		} else {
			a.NextAt = next
			callsTotal.WithLabelValues("failed").Inc()
			log.Info("callback failed; tried again later", zap.Error(cerr), zap.Time("next", next))
		}
	}
	if a.NextAt.IsZero() {
		a.NextAt = now
	}
	return s.store.CallbackRecord(ctx, c, a, msg)
}

// post makes the request and returns the response's status, with an error
// unless it is a 2xx.
func (s *Sender) post(ctx context.Context, c store.CallbackRow) (int, error) {
	u, err := s.cfg.Hosts.Check(c.URL)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(c.Body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "importd-callback")
	req.Header.Set(callback.HeaderSignature, callback.Sign(s.cfg.Secret, time.Now(), c.Body))
	req.Header.Set("Importd-Receipt-Id", c.ReceiptID)
	req.Header.Set("Importd-Event", c.Event)
	// The same call again (a lost answer, a crash) carries the same id.
	req.Header.Set("Idempotency-Key", "importd-callback-"+strconv.FormatInt(c.ID, 10))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	// Read a little of the answer so the connection can be reused, and
	// no more: the receiver is not trusted to keep it short.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("%s answered %s", u.Host, resp.Status)
	}
	return resp.StatusCode, nil
}
