package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// readiness is what a process's /readyz answers from: whether its
// dependencies answer and its workers have started their consumers. Its
// zero value is not ready. Safe for concurrent use.
type readiness struct {
	// opened is set once the dependencies are open; check is then set and
	// never changes.
	opened atomic.Bool
	check  func(ctx context.Context) error
	// waiting counts the workers that have not started their consumers.
	waiting atomic.Int32
	// stopping is set once the process drains.
	stopping atomic.Bool
}

// stop records that the process drains: it is no longer ready.
func (r *readiness) stop() { r.stopping.Store(true) }

// open records the check of the process's dependencies; /readyz runs it
// from then on.
func (r *readiness) open(check func(ctx context.Context) error) {
	r.check = check
	r.opened.Store(true)
}

// worker registers a role still to start and returns what it calls once
// it is started: a worker's consumers (its Config.Started), the query
// service's listener.
func (r *readiness) worker() func() {
	r.waiting.Add(1)
	var once sync.Once
	return func() { once.Do(func() { r.waiting.Add(-1) }) }
}

// ready returns why the process is not ready, or nil.
func (r *readiness) ready(ctx context.Context) error {
	if r.stopping.Load() {
		return errors.New("stopping")
	}
	if !r.opened.Load() {
		return errors.New("starting: PostgreSQL and NATS not opened yet")
	}
	if err := r.check(ctx); err != nil {
		return err
	}
	if n := r.waiting.Load(); n > 0 {
		return fmt.Errorf("starting: %d worker(s) have not started their consumers", n)
	}
	return nil
}

// metricsHandler serves /healthz (the process answers), /readyz (r) and
// /metrics (the default Prometheus registry, where every role registers
// its metrics).
func metricsHandler(r *readiness, logger *zap.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	// Only a change between ready and not ready is logged: probes ask every
	// few seconds.
	var wasReady atomic.Int32 // 0 unknown, 1 ready, 2 not ready
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 3*time.Second)
		defer cancel()
		if err := r.ready(ctx); err != nil {
			if wasReady.Swap(2) != 2 {
				logger.Warn("not ready", zap.Error(err))
			}
			writeStatus(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
		if wasReady.Swap(1) != 1 {
			logger.Info("ready")
		}
		writeStatus(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", promhttp.Handler())
	return mux
}

func writeStatus(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// listenMetrics binds the metrics listener of IMPORTD_METRICS_ADDR; nil
// when it is off.
func (a *app) listenMetrics() (net.Listener, error) {
	if a.cfg.MetricsAddr == "" {
		return nil, nil
	}
	l, err := net.Listen("tcp", a.cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: listen on %s (IMPORTD_METRICS_ADDR; %q turns it off): %w", a.cfg.MetricsAddr, metricsOff, err)
	}
	return l, nil
}

// serveMetrics serves h on l until ctx ends.
func serveMetrics(ctx context.Context, l net.Listener, h http.Handler, logger *zap.Logger) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	logger.Info("metrics listening (/healthz, /readyz, /metrics)", zap.String("addr", l.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics listener: %w", err)
	case <-ctx.Done():
	}
	// Probes and scrapes are short: they are not waited for.
	_ = hs.Close()
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// healthcheck asks /readyz of the process beside it, on
// IMPORTD_METRICS_ADDR, and exits 0 when it is ready, 1 otherwise: the
// image has no shell and no HTTP client for a container's health check
// (docker-compose.yml).
func (a *app) healthcheck(ctx context.Context, w io.Writer) error {
	host, port, err := net.SplitHostPort(a.cfg.MetricsAddr)
	if a.cfg.MetricsAddr == "" || err != nil || port == "0" {
		fmt.Fprintf(w, "no metrics listener to ask: IMPORTD_METRICS_ADDR is %q\n", a.cfg.MetricsAddr)
		return &exitError{code: 1}
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(w, "not ready:", err)
		return &exitError{code: 1}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(w, "not ready: %s %s", resp.Status, body)
		return &exitError{code: 1}
	}
	fmt.Fprintf(w, "%s", body)
	return nil
}
