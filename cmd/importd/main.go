// Command importd runs the import pipeline: one binary, one role per process
// (or every role at once), configured by the environment (docs/contract.md,
// "Environment").
//
//	importd ingest|resolve|import|query|all|dev|migrate|audit
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const usage = `usage: importd ROLE

Roles:
  ingest    read deliveries from NATS into tracked operations
  resolve   check references; park operations whose references are missing
            and release them when the resources are created
  import    write resolved operations into the catalog, with retries
  query     the HTTP query service (tracking endpoints, /healthz, /readyz, /metrics)
  all       every role in one process, after applying migrations
  dev       all, plus an embedded NATS server (unless NATS_URL is set) and,
            when no PostgreSQL answers, a private one; no authentication
  migrate   apply the database schema and exit
  audit     importd audit [--grace 30s] RECEIPT|--all: check deliveries,
            operations, events and the catalog against each other; exit 1
            on any violation

Environment: DATABASE_URL, NATS_URL, IMPORTD_NATS_LISTEN, IMPORTD_DATA_DIR,
IMPORTD_HTTP_ADDR, IMPORTD_RETENTION, IMPORTD_TOKENS_FILE, IMPORTD_LOG_LEVEL,
IMPORTD_STREAM_REPLICAS and more (see docs/contract.md, "Environment").
`

func main() {
	if len(os.Args) < 2 || (len(os.Args) != 2 && os.Args[1] != "audit") || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	role := os.Args[1]
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "importd:", err)
		os.Exit(2)
	}
	logger := newLogger(cfg.LogLevel, role == "dev")
	defer logger.Sync() //nolint:errcheck
	tuneGC(role, logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, role, os.Args[2:], cfg, logger); err != nil {
		if code, ok := exitCode(err); ok {
			os.Exit(code)
		}
		if errors.Is(err, errUsage) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		logger.Error("importd stopped", zap.String("role", role), zap.Error(err))
		fmt.Fprintln(os.Stderr, "importd:", err)
		os.Exit(1)
	}
}

func newLogger(level zapcore.Level, dev bool) *zap.Logger {
	var zc zap.Config
	if dev {
		zc = zap.NewDevelopmentConfig()
		zc.DisableStacktrace = true
	} else {
		zc = zap.NewProductionConfig()
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	logger, err := zc.Build()
	if err != nil {
		return zap.NewNop()
	}
	return logger
}
