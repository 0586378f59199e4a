package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/importd/importd/api"
	"github.com/importd/importd/callback/sender"
	"github.com/importd/importd/catalog"
	"github.com/importd/importd/console"
	"github.com/importd/importd/importer"
	"github.com/importd/importd/ingest"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/resolver"
	"github.com/importd/importd/tracking"
)

var errUsage = errors.New("importd: unknown role")

// app holds what the roles of one process share.
type app struct {
	cfg    config
	logger *zap.Logger
	pool   *pgxpool.Pool
	nc     *nats.Conn
	js     jetstream.JetStream
	store  *tracking.Store
	role   string
}

func run(ctx context.Context, role string, args []string, cfg config, logger *zap.Logger) error {
	a := &app{cfg: cfg, logger: logger, role: role}
	defer a.close()
	switch role {
	case "migrate":
		if err := a.openDB(ctx); err != nil {
			return err
		}
		if err := database.Migrate(ctx, a.pool); err != nil {
			return err
		}
		v, err := database.Version(ctx, a.pool)
		if err != nil {
			return err
		}
		logger.Info("schema up to date", zap.Int64("version", v))
		return nil
	case "ingest":
		return a.start(ctx, false, "ingest")
	case "query":
		return a.start(ctx, false, "query")
	case "resolve":
		return a.start(ctx, false, "resolve")
	case "all":
		return a.start(ctx, true, "ingest", "resolve", "import", "query")
	case "import":
		return a.start(ctx, false, "import")
	case "dev":
		return a.dev(ctx)
	case "audit":
		return a.audit(ctx, args, os.Stdout)
	case "healthcheck":
		return a.healthcheck(ctx, os.Stdout)
	}
	return errUsage
}

func (a *app) close() {
	if a.nc != nil {
		_ = a.nc.Drain()
	}
	if a.pool != nil {
		a.pool.Close()
	}
}

func (a *app) openDB(ctx context.Context) error {
	pool, err := database.Open(ctx, a.cfg.DatabaseURL, "importd "+a.role)
	if err != nil {
		return err
	}
	a.pool = pool
	return nil
}

func (a *app) openNATS(ctx context.Context) error {
	nc, err := bus.Connect(a.cfg.NATSURL, "importd", a.cfg.NATSAuth, a.logger)
	if err != nil {
		return err
	}
	a.nc = nc
	if a.js, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096)); err != nil {
		return err
	}
	return bus.Provision(ctx, a.js, a.busConfig())
}

func (a *app) busConfig() bus.Config {
	return bus.Config{Retention: a.cfg.Retention, Replicas: a.cfg.Replicas, AckWait: a.cfg.AckWait, WorkMaxDeliveries: a.cfg.WorkMaxDeliveries, Limits: a.cfg.Limits}
}

// start serves the metrics listener, opens what the roles need and runs
// them until ctx is canceled. The listener is bound first, so that a port
// in use stops the process before anything else, and closed last: it
// answers probes while the roles start and drain.
func (a *app) start(ctx context.Context, migrate bool, roles ...string) error {
	l, err := a.listenMetrics()
	if err != nil {
		return err
	}
	rd := &readiness{}
	if l == nil {
		return a.runRoles(ctx, rd, migrate, roles...)
	}
	rctx, stopRoles := context.WithCancel(ctx)
	defer stopRoles()
	// Draining, the process takes no more work: not ready.
	context.AfterFunc(ctx, rd.stop)
	mctx, stopMetrics := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		err := serveMetrics(mctx, l, metricsHandler(rd, a.logger), a.logger)
		if err != nil {
			stopRoles()
		}
		served <- err
	}()
	err = a.runRoles(rctx, rd, migrate, roles...)
	stopMetrics()
	if serr := <-served; err == nil {
		err = serr
	}
	return err
}

// runRoles opens what the roles need and runs them until ctx is canceled;
// rd learns when the dependencies are open and the workers consume.
func (a *app) runRoles(ctx context.Context, rd *readiness, migrate bool, roles ...string) error {
	if err := a.openDB(ctx); err != nil {
		return err
	}
	if migrate {
		if err := database.Migrate(ctx, a.pool); err != nil {
			return err
		}
	} else if err := database.CheckSchema(ctx, a.pool); err != nil {
		return err
	}
	if err := a.openNATS(ctx); err != nil {
		return err
	}
	store, err := tracking.NewStore(a.pool, tracking.StoreConfig{Retention: a.cfg.Retention})
	if err != nil {
		return err
	}
	a.store = store
	if err := store.EnsurePartitions(ctx); err != nil {
		return err
	}
	var tokens *api.Tokens
	if a.cfg.TokensFile != "" {
		if tokens, err = api.LoadTokens(a.cfg.TokensFile); err != nil {
			return err
		}
	}
	pool, nc := a.pool, a.nc
	rd.open(func(ctx context.Context) error {
		if err := pool.Ping(ctx); err != nil {
			return fmt.Errorf("postgresql: %w", err)
		}
		if !nc.IsConnected() {
			return fmt.Errorf("nats: not connected (%s)", nc.Status())
		}
		return nil
	})
	g, ctx := errgroup.WithContext(ctx)
	for _, role := range roles {
		switch role {
		case "ingest":
			w, err := ingest.New(ingest.Config{Bus: a.busConfig(), MaxInFlight: a.cfg.MaxInFlight, RedriveAfter: a.cfg.RedriveAfter,
				CallbackHosts: a.cfg.CallbackHosts, Started: rd.worker()}, store, a.js, a.logger)
			if err != nil {
				return err
			}
			g.Go(func() error { return w.Run(ctx) })
		case "resolve":
			w, err := resolver.New(resolver.Config{Bus: a.busConfig(), Started: rd.worker()}, store, a.js, a.logger)
			if err != nil {
				return err
			}
			g.Go(func() error { return w.Run(ctx) })
		case "import":
			w, err := importer.New(importer.Config{Target: catalog.NewStore(a.pool), RetryWindow: a.cfg.RetryWindow, Bus: a.busConfig(),
				Started: rd.worker()}, store, a.js, a.logger)
			if err != nil {
				return err
			}
			g.Go(func() error { return w.Run(ctx) })
		case "query":
			if tokens == nil && !a.cfg.dev {
				return errors.New("IMPORTD_TOKENS_FILE is not set: the query service runs without tokens only in dev mode")
			}
			started := rd.worker()
			g.Go(func() error { return a.serveHTTP(ctx, tokens, started) })
			if a.cfg.CallbackHosts.Enabled() {
				// The query role calls back: it is the one that talks HTTP
				// with the outside, so its egress is the one to open.
				cs, err := sender.New(sender.Config{Secret: []byte(a.cfg.CallbackSecret), Hosts: a.cfg.CallbackHosts}, store, a.logger)
				if err != nil {
					return err
				}
				g.Go(func() error { cs.Run(ctx); return nil })
			}
		}
	}
	if a.cfg.DebugAddr != "" {
		l, err := net.Listen("tcp", a.cfg.DebugAddr)
		if err != nil {
			return fmt.Errorf("debug endpoint: listen on %s (IMPORTD_DEBUG_ADDR): %w", a.cfg.DebugAddr, err)
		}
		g.Go(func() error { return serveDebug(ctx, l, a.logger) })
	}
	g.Go(func() error { a.maintain(ctx); return nil })
	a.logger.Info("importd running", zap.Strings("roles", roles))
	if err := g.Wait(); err != nil {
		return err
	}
	a.logger.Info("importd stopped cleanly", zap.Strings("roles", roles))
	return nil
}

// maintain keeps the time partitions ahead of the clock and drops those
// past the retention, every minute, until ctx is canceled. Every process
// runs it; an advisory lock makes concurrent runs harmless.
func (a *app) maintain(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if err := a.store.EnsurePartitions(ctx); err != nil && ctx.Err() == nil {
			a.logger.Warn("creating partitions ahead failed", zap.Error(err))
		}
		if _, err := a.store.Expire(ctx, a.js, a.logger); err != nil && ctx.Err() == nil {
			a.logger.Warn("retention pass failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// queryPool opens the query service's own pool, whose statements end
// after IMPORTD_QUERY_STATEMENT_TIMEOUT: a request never holds a
// connection longer, whatever it asks. The workers' pool keeps no such
// bound (a batch or a partition drop may take longer).
func (a *app) queryPool(ctx context.Context) (*pgxpool.Pool, error) {
	return database.OpenWithParams(ctx, a.cfg.DatabaseURL, "importd query", map[string]string{
		"statement_timeout": strconv.FormatInt(a.cfg.QueryStatementTimeout.Milliseconds(), 10),
	})
}

// serveHTTP runs the query service until ctx is canceled; started is
// called once it listens. Stopped while it starts, it returns nil: a
// SIGTERM then is a clean stop, not a failure.
func (a *app) serveHTTP(ctx context.Context, tokens *api.Tokens, started func()) error {
	pool, err := a.queryPool(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer pool.Close()
	store, err := tracking.NewStore(pool, tracking.StoreConfig{Retention: a.cfg.Retention})
	if err != nil {
		return err
	}
	srv := api.NewServer(store, api.ServerConfig{
		Tokens:             tokens,
		JS:                 a.js,
		CallbackHosts:      a.cfg.CallbackHosts,
		MaxStreams:         a.cfg.QueryMaxStreams,
		MaxStreamsPerToken: a.cfg.QueryStreamsPerToken,
		Ready: func(ctx context.Context) error {
			if err := store.Ping(ctx); err != nil {
				return fmt.Errorf("postgresql: %w", err)
			}
			if !a.nc.IsConnected() {
				return errors.New("nats: not connected")
			}
			return nil
		},
	}, a.logger)
	ui, err := console.New(console.Config{}, srv.Console(), a.logger)
	if err != nil {
		return err
	}
	srv.HandleUI(console.Prefix, ui)
	uictx, stopUI := context.WithCancel(ctx)
	defer stopUI()
	go ui.Run(uictx)
	l, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("query service: listen on %s (IMPORTD_HTTP_ADDR): %w", a.cfg.HTTPAddr, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	a.logger.Info("query service listening", zap.String("addr", l.Addr().String()))
	started()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// dev runs every role with an embedded NATS server and, when needed, a
// private PostgreSQL.
func (a *app) dev(ctx context.Context) error {
	a.cfg.setDev()
	dir, err := filepath.Abs(a.cfg.DataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("IMPORTD_DATA_DIR %s: %w", dir, err)
	}
	natsWhere := a.cfg.NATSURL
	if !a.cfg.NATSURLSet {
		ns, err := bus.StartEmbedded(bus.EmbeddedConfig{Listen: a.cfg.NATSListen, StoreDir: filepath.Join(dir, "nats")})
		if err != nil {
			return err
		}
		defer func() {
			ns.Shutdown()
			ns.WaitForShutdown()
		}()
		a.cfg.NATSURL = ns.ClientURL()
		natsWhere = ns.ClientURL() + " (embedded, store in " + filepath.Join(dir, "nats") + ")"
	}
	dbWhere := redactURL(a.cfg.DatabaseURL)
	if !a.cfg.DatabaseURLSet {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		pool, err := database.Open(pctx, a.cfg.DatabaseURL, "importd "+a.role)
		cancel()
		if err == nil {
			pool.Close()
		} else {
			a.logger.Info("no PostgreSQL answers at the default address; starting a private one", zap.Error(err))
			url, stop, perr := startPrivatePostgres(ctx, filepath.Join(dir, "postgres"), a.logger)
			if perr != nil {
				return fmt.Errorf("no PostgreSQL answers at %s (%v), and a private one could not be started: %w", redactURL(a.cfg.DatabaseURL), err, perr)
			}
			defer stop()
			a.cfg.DatabaseURL = url
			dbWhere = url + " (private, data in " + filepath.Join(dir, "postgres") + ")"
		}
	}
	if a.cfg.TokensFile == "" {
		a.logger.Warn("DEV MODE: the query service runs WITHOUT AUTHENTICATION; set IMPORTD_TOKENS_FILE to require tokens")
	}
	fmt.Fprintf(os.Stderr, `
importd dev is starting
  NATS        %s
  PostgreSQL  %s
  HTTP        http://%s  (/import/{receiptId}/status|summary|{productId}, /v1/imports, /v1/summary)
  Metrics     %s
  Publish deliveries to import.deliveries.<merchantId>; stop with Ctrl-C.

`, natsWhere, dbWhere, displayAddr(a.cfg.HTTPAddr), metricsWhere(a.cfg.MetricsAddr))
	return a.start(ctx, true, "ingest", "resolve", "import", "query")
}

func metricsWhere(addr string) string {
	if addr == "" {
		return "off (IMPORTD_METRICS_ADDR=off)"
	}
	return "http://" + displayAddr(addr) + "  (/healthz, /readyz, /metrics; IMPORTD_METRICS_ADDR)"
}

func displayAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// serveDebug serves the process's Go profiles (net/http/pprof) on l until
// ctx ends, whichever roles the process runs; its metrics are the metrics
// listener's. Operators bind it to a private address.
func serveDebug(ctx context.Context, l net.Listener, logger *zap.Logger) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("debug endpoint listening (pprof)", zap.String("addr", l.Addr().String()))
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
