// Command importd runs the import pipeline: one binary, one role per process
// (or every role at once), configured by the environment (docs/contract.md,
// "Environment").
//
//	importd ingest|resolve|import|query|all|dev|migrate|audit|healthcheck
//	importd version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/importd/importd/internal/buildinfo"
)

const usage = `usage: importd ROLE

Roles:
  ingest    read deliveries from NATS into tracked operations
  resolve   check references; park operations whose references are missing
            and release them when the resources are created
  import    write resolved operations into the catalog, with retries
  query     the HTTP query service (tracking endpoints and the /v1 API) and
            the sender of delivery callbacks
  all       every role in one process, after applying migrations
  dev       all, plus an embedded NATS server (unless NATS_URL is set) and,
            when no PostgreSQL answers, a private one; no authentication
  migrate   apply the database schema and exit
  audit     importd audit [--grace 30s] RECEIPT|--all: check deliveries,
            operations, events and the catalog against each other; exit 1
            on any violation
  healthcheck
            ask /readyz of the importd on this host (IMPORTD_METRICS_ADDR);
            exit 0 when it is ready, 1 otherwise (for images without a shell)
  version   print what the binary was built from (module version, VCS
            revision and time, modified tree, Go version) and exit

Environment: DATABASE_URL, NATS_URL, IMPORTD_NATS_LISTEN, IMPORTD_DATA_DIR,
IMPORTD_HTTP_ADDR, IMPORTD_RETENTION, IMPORTD_TOKENS_FILE, IMPORTD_LOG_LEVEL,
IMPORTD_STREAM_REPLICAS and more (see docs/contract.md, "Environment").
Every role serves /healthz, /readyz and /metrics on IMPORTD_METRICS_ADDR
(default :9090, "off" for none).
`

// roles are the roles importd runs, in the order of the usage text.
var roles = []string{"ingest", "resolve", "import", "query", "all", "dev", "migrate", "audit", "healthcheck"}

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runMain runs importd with args and returns the process's exit status, so
// that the deferred Sync of the logger runs before the process exits.
func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	role := args[0]
	switch {
	case role == "-h" || role == "--help" || role == "help":
		fmt.Fprint(stdout, usage)
		return 0
	case role == "version" || role == "--version":
		bi, ok := debug.ReadBuildInfo()
		buildinfo.Print(stdout, "importd", bi, ok)
		return 0
	case !slices.Contains(roles, role):
		fmt.Fprintf(stderr, "importd: unknown role %q; the roles are %s (and version, help)\n", role, strings.Join(roles, ", "))
		return 2
	case len(args) != 1 && role != "audit":
		fmt.Fprintf(stderr, "importd: role %s takes no arguments, got %q\n", role, args[1:])
		return 2
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintln(stderr, "importd:", err)
		return 2
	}
	logger := newLogger(cfg.LogLevel, role == "dev")
	defer logger.Sync() //nolint:errcheck
	tuneGC(role, logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err = run(ctx, role, args[1:], cfg, logger)
	if err == nil {
		return 0
	}
	if code, ok := exitCode(err); ok {
		return code
	}
	if errors.Is(err, errUsage) {
		fmt.Fprint(stderr, usage)
		return 2
	}
	reportFailure(logger, stderr, role, err)
	return 1
}

// reportFailure tells, once, why importd stopped: in the log when the log
// shows errors, else on stderr (IMPORTD_LOG_LEVEL above error, or no
// logger), so that the reason is never lost nor printed twice.
func reportFailure(logger *zap.Logger, stderr io.Writer, role string, err error) {
	if logger.Core().Enabled(zap.ErrorLevel) {
		// No stack trace: it would be main's, and say nothing of the cause.
		logger.WithOptions(zap.AddStacktrace(zap.FatalLevel)).Error("importd stopped", zap.String("role", role), zap.Error(err))
		return
	}
	fmt.Fprintf(stderr, "importd %s: %v\n", role, err)
}

// loggerConfig is the zap configuration of the process: JSON in
// production, the console encoder for dev; ISO-8601 times in both.
func loggerConfig(level zapcore.Level, dev bool) zap.Config {
	var zc zap.Config
	if dev {
		zc = zap.NewDevelopmentConfig()
		zc.DisableStacktrace = true
	} else {
		zc = zap.NewProductionConfig()
	}
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	zc.Level = zap.NewAtomicLevelAt(level)
	return zc
}

func newLogger(level zapcore.Level, dev bool) *zap.Logger {
	logger, err := loggerConfig(level, dev).Build()
	if err != nil {
		return zap.NewNop()
	}
	return logger
}
