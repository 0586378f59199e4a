package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/importd/importd/api"
	"github.com/importd/importd/callback"
	"github.com/importd/importd/importer"
	"github.com/importd/importd/ingest"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/database"
)

// config is the environment (docs/contract.md, "Environment"). Only this
// package reads it.
type config struct {
	DatabaseURL    string
	DatabaseURLSet bool
	NATSURL        string
	NATSURLSet     bool
	NATSListen     string
	DataDir        string
	HTTPAddr       string
	HTTPAddrSet    bool
	NATSAuth       bus.Auth
	DebugAddr      string // /debug/pprof/ of any role; empty: off
	// MetricsAddr is where a process serves /healthz, /readyz and /metrics
	// of its roles; empty: off.
	MetricsAddr    string
	MetricsAddrSet bool
	Retention      time.Duration
	TokensFile     string
	LogLevel       zapcore.Level
	Replicas       int
	AckWait        time.Duration
	RedriveAfter   time.Duration
	RetryWindow    time.Duration
	MaxInFlight    int // per delivery; -1 unbounded
	Limits         bus.Limits
	// The query service's bounds: its statements' timeout, and how many
	// streamed responses it serves at once in all and per token.
	QueryStatementTimeout time.Duration
	QueryMaxStreams       int
	QueryStreamsPerToken  int
	dev                   bool // set by the dev role
	// Callbacks: the hosts a delivery's callback URL may name and the
	// secret that signs the calls; set together or not at all.
	CallbackHosts    callback.Hosts
	CallbackHostsSet bool
	CallbackSecret   string

	WorkMaxDeliveries int // of a work message that fails (bus.Config)
}

func loadConfig() (config, error) {
	c := config{
		DatabaseURL: env("DATABASE_URL", database.DefaultURL),
		NATSURL:     env("NATS_URL", "nats://127.0.0.1:4222"),
		NATSListen:  env("IMPORTD_NATS_LISTEN", "127.0.0.1:4222"),
		DataDir:     env("IMPORTD_DATA_DIR", "./var"),
		HTTPAddr:    env("IMPORTD_HTTP_ADDR", ":8080"),
		DebugAddr:   os.Getenv("IMPORTD_DEBUG_ADDR"),
		MetricsAddr: env("IMPORTD_METRICS_ADDR", defaultMetricsAddr),
		TokensFile:  os.Getenv("IMPORTD_TOKENS_FILE"),
	}
	c.DatabaseURLSet = os.Getenv("DATABASE_URL") != ""
	c.NATSURLSet = os.Getenv("NATS_URL") != ""
	c.HTTPAddrSet = os.Getenv("IMPORTD_HTTP_ADDR") != ""
	c.MetricsAddrSet = os.Getenv("IMPORTD_METRICS_ADDR") != ""
	if strings.EqualFold(c.MetricsAddr, metricsOff) {
		c.MetricsAddr = ""
	} else if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
		return c, fmt.Errorf("IMPORTD_METRICS_ADDR: want host:port, :port or %q, got %q", metricsOff, c.MetricsAddr)
	}
	c.NATSAuth = bus.AuthFromEnv(os.Getenv)
	if _, err := c.NATSAuth.Options(); err != nil {
		return c, err
	}
	var err error
	if c.Retention, err = parseRetention(env("IMPORTD_RETENTION", "48h")); err != nil {
		return c, err
	}
	if err := c.LogLevel.UnmarshalText([]byte(env("IMPORTD_LOG_LEVEL", "info"))); err != nil {
		return c, fmt.Errorf("IMPORTD_LOG_LEVEL: want debug, info, warn or error: %w", err)
	}
	if c.Replicas, err = strconv.Atoi(env("IMPORTD_STREAM_REPLICAS", "1")); err != nil || c.Replicas < 1 || c.Replicas > 5 {
		return c, fmt.Errorf("IMPORTD_STREAM_REPLICAS: want a number from 1 to 5, got %q", os.Getenv("IMPORTD_STREAM_REPLICAS"))
	}
	if c.AckWait, err = time.ParseDuration(env("IMPORTD_ACK_WAIT", "30s")); err != nil || c.AckWait < time.Second || c.AckWait > time.Hour {
		return c, fmt.Errorf("IMPORTD_ACK_WAIT: want a duration from 1s to 1h, got %q", os.Getenv("IMPORTD_ACK_WAIT"))
	}
	// A work message's deliveries include those that bring its next import
	// attempt (MaxAttempts in all): a bound of twice that leaves as many
	// for failures that record no attempt.
	if c.WorkMaxDeliveries, err = strconv.Atoi(env("IMPORTD_WORK_MAX_DELIVERIES", strconv.Itoa(bus.DefaultWorkMaxDeliveries))); err != nil || c.WorkMaxDeliveries < 2*importer.MaxAttempts {
		return c, fmt.Errorf("IMPORTD_WORK_MAX_DELIVERIES: want a number of deliveries from %d (twice the import attempts), got %q", 2*importer.MaxAttempts, os.Getenv("IMPORTD_WORK_MAX_DELIVERIES"))
	}
	if c.MaxInFlight, err = strconv.Atoi(env("IMPORTD_MAX_IN_FLIGHT", strconv.Itoa(ingest.DefaultMaxInFlight))); err != nil || c.MaxInFlight < 0 {
		return c, fmt.Errorf("IMPORTD_MAX_IN_FLIGHT: want a number of operations, 0 for unbounded, got %q", os.Getenv("IMPORTD_MAX_IN_FLIGHT"))
	}
	if c.RetryWindow, err = time.ParseDuration(env("IMPORTD_RETRY_WINDOW", "10m")); err != nil || c.RetryWindow < time.Second || c.RetryWindow > 6*time.Hour {
		return c, fmt.Errorf("IMPORTD_RETRY_WINDOW: want a duration from 1s to 6h, got %q", os.Getenv("IMPORTD_RETRY_WINDOW"))
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = -1
	}
	if c.RedriveAfter, err = time.ParseDuration(env("IMPORTD_REDRIVE_AFTER", "10m")); err != nil || c.RedriveAfter < time.Second {
		return c, fmt.Errorf("IMPORTD_REDRIVE_AFTER: want a duration of at least 1s, got %q", os.Getenv("IMPORTD_REDRIVE_AFTER"))
	}
	// A record waiting for its next attempt makes no progress meanwhile: a
	// re-drive sooner than the longest wait would bring the attempt forward.
	if longest := c.RetryWindow * 2 / 3; c.RedriveAfter <= longest {
		return c, fmt.Errorf("IMPORTD_REDRIVE_AFTER: %s is not longer than the longest wait between attempts (%s, two thirds of IMPORTD_RETRY_WINDOW %s)",
			c.RedriveAfter, longest, c.RetryWindow)
	}
	for _, l := range []struct {
		name string
		v    *int64
		def  int64
	}{
		{"IMPORTD_DELIVERIES_MAX_BYTES", &c.Limits.DeliveriesBytes, bus.DefaultDeliveriesBytes},
		{"IMPORTD_WORK_MAX_BYTES", &c.Limits.WorkBytes, bus.DefaultWorkBytes},
		{"IMPORTD_EVENTS_MAX_BYTES", &c.Limits.EventsBytes, bus.DefaultEventsBytes},
		{"IMPORTD_PAYLOADS_MAX_BYTES", &c.Limits.PayloadsBytes, bus.DefaultPayloadsBytes},
		{"IMPORTD_INPUTS_MAX_BYTES", &c.Limits.InputsBytes, bus.DefaultInputsBytes},
		{"IMPORTD_INPUTS_MAX_BYTES_PER_MERCHANT", &c.Limits.InputsBytesPerMerchant, bus.DefaultInputsBytesPerMerchant},
	} {
		v := env(l.name, strconv.FormatInt(l.def, 10))
		if l.name == "IMPORTD_INPUTS_MAX_BYTES" && v == "0" {
			*l.v = -1 // keep no bodies of settled deliveries
			continue
		}
		if *l.v, err = parseBytes(v); err != nil {
			return c, fmt.Errorf("%s: %w", l.name, err)
		}
	}
	if c.QueryStatementTimeout, err = time.ParseDuration(env("IMPORTD_QUERY_STATEMENT_TIMEOUT", "2m")); err != nil || c.QueryStatementTimeout < time.Second {
		return c, fmt.Errorf("IMPORTD_QUERY_STATEMENT_TIMEOUT: want a duration of at least 1s, got %q", os.Getenv("IMPORTD_QUERY_STATEMENT_TIMEOUT"))
	}
	if c.QueryMaxStreams, err = strconv.Atoi(env("IMPORTD_QUERY_MAX_STREAMS", strconv.Itoa(api.DefaultMaxStreams))); err != nil || c.QueryMaxStreams < 1 {
		return c, fmt.Errorf("IMPORTD_QUERY_MAX_STREAMS: want a number of responses, at least 1, got %q", os.Getenv("IMPORTD_QUERY_MAX_STREAMS"))
	}
	if c.QueryStreamsPerToken, err = strconv.Atoi(env("IMPORTD_QUERY_MAX_STREAMS_PER_TOKEN", strconv.Itoa(api.DefaultMaxStreamsPerToken))); err != nil || c.QueryStreamsPerToken < 1 {
		return c, fmt.Errorf("IMPORTD_QUERY_MAX_STREAMS_PER_TOKEN: want a number of responses, at least 1, got %q", os.Getenv("IMPORTD_QUERY_MAX_STREAMS_PER_TOKEN"))
	}
	if c.Limits.WaitingDeliveries, err = strconv.ParseInt(env("IMPORTD_MAX_WAITING_DELIVERIES", strconv.Itoa(bus.DefaultWaitingDeliveries)), 10, 64); err != nil || c.Limits.WaitingDeliveries < 1 {
		return c, fmt.Errorf("IMPORTD_MAX_WAITING_DELIVERIES: want a number of deliveries, at least 1, got %q", os.Getenv("IMPORTD_MAX_WAITING_DELIVERIES"))
	}
	if c.CallbackHosts, err = callback.ParseHosts(os.Getenv("IMPORTD_CALLBACK_HOSTS")); err != nil {
		return c, fmt.Errorf("IMPORTD_CALLBACK_HOSTS: %w", err)
	}
	c.CallbackHostsSet = os.Getenv("IMPORTD_CALLBACK_HOSTS") != ""
	c.CallbackSecret = os.Getenv("IMPORTD_CALLBACK_SECRET")
	if c.CallbackHosts.Enabled() && len(c.CallbackSecret) < minCallbackSecret {
		return c, fmt.Errorf("IMPORTD_CALLBACK_SECRET: callbacks are on (IMPORTD_CALLBACK_HOSTS) and need a secret of at least %d bytes to sign them", minCallbackSecret)
	}
	return c, nil
}

// minCallbackSecret is the shortest secret that signs callbacks: a short
// one could be guessed from the signatures receivers see.
const minCallbackSecret = 16

// devCallbackSecret signs callbacks in dev mode when no secret is set; it is
// public (docs/callbacks.md), as dev mode has no other secret either.
const devCallbackSecret = "importd-dev-callback-secret"

// parseBytes parses a size: a number of bytes, or a number with KiB, MiB,
// GiB or TiB.
func parseBytes(s string) (int64, error) {
	mult := int64(1)
	for i, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if n, ok := strings.CutSuffix(s, unit); ok {
			s, mult = strings.TrimSpace(n), 1<<(10*(i+1))
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a size such as 2GiB or 1048576, got %q", s)
	}
	return n * mult, nil
}

// devHTTPAddr is where importd dev serves HTTP unless IMPORTD_HTTP_ADDR
// says otherwise: this machine only, as dev may run without tokens.
const devHTTPAddr = "127.0.0.1:8080"

// The metrics listener's defaults: every interface for a role in a
// container, which Kubernetes' probes and Prometheus reach there; this
// machine only for dev, on a port beside its HTTP port's.
const (
	defaultMetricsAddr = ":9090"
	devMetricsPort     = 9090
	metricsOff         = "off" // IMPORTD_METRICS_ADDR=off serves no metrics listener
)

// setDev applies the defaults of the dev role.
func (c *config) setDev() {
	c.dev = true
	if !c.HTTPAddrSet {
		c.HTTPAddr = devHTTPAddr
	}
	// Dev mode calls back to this machine only, unless told otherwise.
	if !c.CallbackHostsSet {
		c.CallbackHosts, _ = callback.ParseHosts("localhost,127.0.0.1,::1")
	}
	if c.CallbackSecret == "" {
		c.CallbackSecret = devCallbackSecret
	}
	if !c.MetricsAddrSet {
		port := devMetricsPort
		if _, p, err := net.SplitHostPort(c.HTTPAddr); err == nil && p == strconv.Itoa(port) {
			port++ // the HTTP port was moved onto the metrics default
		}
		c.MetricsAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// parseRetention parses a Go duration, or a number of days such as "30d",
// between 1h and 30d.
func parseRetention(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("IMPORTD_RETENTION %q: %w", s, err)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("IMPORTD_RETENTION %q: want a duration such as 48h or 7d", s)
		}
	}
	if d < time.Hour || d > 30*24*time.Hour {
		return 0, fmt.Errorf("IMPORTD_RETENTION %q: must be between 1h and 30d", s)
	}
	return d, nil
}
