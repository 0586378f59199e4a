// Package database opens the PostgreSQL pool and applies the embedded schema
// migrations. It is shared plumbing: the SQL of each component lives with that
// component.
package database

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultURL is used when DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// DBTX is what the SQL functions of every package take: a pool, a connection
// or a transaction.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Prepared, as the first argument of a query, runs it as a prepared
// statement cached by the connection, so that PostgreSQL may keep its plan
// (after five executions, a generic plan when it costs no more than the
// custom ones), instead of planning every execution (the pool's default,
// see Open). For the small statements workers run thousands of times a
// minute whose plan does not depend on their parameters: key probes,
// counters, one delivery. Planning those on every call takes a large share
// of PostgreSQL's time for statements that run in a fraction of it.
const Prepared = pgx.QueryExecModeCacheStatement

// Open connects a pool and checks that the server answers. Its sessions
// carry name as application_name (pg_stat_activity, the server's logs)
// unless url sets one.
func Open(ctx context.Context, url, name string) (*pgxpool.Pool, error) {
	return OpenWithParams(ctx, url, name, nil)
}

// OpenWithParams is Open with session settings of the pool's connections
// (statement_timeout, …), over those of url.
func OpenWithParams(ctx context.Context, url, name string, params map[string]string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database: parse DATABASE_URL: %w", err)
	}
	for k, v := range params {
		cfg.ConnConfig.RuntimeParams[k] = v
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok && name != "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = name
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	// Plan every execution with its parameters. A prepared statement's
	// generic plan is made once per connection, possibly while a partition
	// is still empty, and batch queries over a million-row delivery must not
	// be stuck with it.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database: cannot reach %s: %w", redact(cfg.ConnConfig), err)
	}
	return pool, nil
}

func redact(c *pgx.ConnConfig) string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// withProvider runs fn with a goose provider of the embedded migrations
// over pool.
func withProvider(pool *pgxpool.Pool, fn func(*goose.Provider) error, opts ...goose.ProviderOption) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, opts...)
	if err != nil {
		return fmt.Errorf("database: migrations: %w", err)
	}
	return fn(p)
}

// Migrate applies every pending migration. Several processes may call it at
// once: a PostgreSQL advisory lock serialises them.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	return withProvider(pool, func(p *goose.Provider) error {
		if _, err := p.Up(ctx); err != nil {
			return fmt.Errorf("database: migrate: %w", err)
		}
		return nil
	}, goose.WithSessionLocker(locker))
}

// ErrSchemaBehind means the database's schema is older than this build's
// migrations: `importd migrate` has not run since the upgrade.
var ErrSchemaBehind = errors.New("database: schema behind this build")

// CheckSchema returns an error wrapping ErrSchemaBehind when migrations of
// this build are not applied to the database.
func CheckSchema(ctx context.Context, pool *pgxpool.Pool) error {
	return withProvider(pool, func(p *goose.Provider) error {
		current, target, err := p.GetVersions(ctx)
		if err != nil {
			return fmt.Errorf("database: schema version: %w", err)
		}
		if current < target {
			return fmt.Errorf("%w: the database is at schema version %d, this importd needs %d; run `importd migrate` first", ErrSchemaBehind, current, target)
		}
		return nil
	})
}

// Version reports the schema version applied to the database (0 when none).
func Version(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var v int64
	err := withProvider(pool, func(p *goose.Provider) error {
		var err error
		v, err = p.GetDBVersion(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			v, err = 0, nil
		}
		return err
	})
	return v, err
}

// IsTransient reports whether err is worth retrying: a lost connection, a
// serialization failure, a deadlock, a timeout or a server shutting down.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case pgerrcode.SerializationFailure, pgerrcode.DeadlockDetected, pgerrcode.LockNotAvailable,
			pgerrcode.QueryCanceled, pgerrcode.AdminShutdown, pgerrcode.CrashShutdown, pgerrcode.CannotConnectNow,
			pgerrcode.TooManyConnections, pgerrcode.ConnectionException, pgerrcode.ConnectionDoesNotExist,
			pgerrcode.ConnectionFailure, pgerrcode.SQLClientUnableToEstablishSQLConnection,
			pgerrcode.SQLServerRejectedEstablishmentOfSQLConnection:
			return true
		}
		return false
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var connErr *pgconn.ConnectError
	return errors.As(err, &connErr) || errors.Is(err, pgx.ErrTxClosed) || isNetErr(err)
}

// HasCode reports whether err is a PostgreSQL error with the SQLSTATE code
// (a pgerrcode constant).
func HasCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}
