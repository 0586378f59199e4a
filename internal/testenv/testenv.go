// Package testenv gives tests their own PostgreSQL database and their own
// embedded NATS server, so that every test is isolated from every other and
// from what an earlier run left behind.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/database"
)

// AdminURL is the server tests create their databases on: TEST_DATABASE_URL,
// defaulting to the local PostgreSQL.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return database.DefaultURL
}

// DBURL creates an empty database with the schema applied, dropped when the
// test ends, and returns its URL. A test that cannot reach PostgreSQL fails.
func DBURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	require.NoError(t, err, "testenv: PostgreSQL must be reachable at %s (set TEST_DATABASE_URL)", AdminURL())
	defer admin.Close(ctx)
	name := "importd_test_" + randomHex(6)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, AdminURL())
		if err != nil {
			t.Logf("testenv: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("testenv: drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(AdminURL())
	require.NoError(t, err)
	u.Path = "/" + name
	dbURL := u.String()
	pool, err := database.Open(ctx, dbURL, "importd test")
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, database.Migrate(ctx, pool))
	return dbURL
}

// DB returns a pool on a fresh migrated database of the test's own.
func DB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := database.Open(ctx, DBURL(t), "importd test")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// NATS starts an embedded JetStream server with its store in a temporary
// directory, stopped when the test ends.
func NATS(t testing.TB) *server.Server {
	t.Helper()
	return NATSWith(t, bus.EmbeddedConfig{})
}

// NATSWith is NATS with the settings of cfg (MaxPayload); its listen
// address and store directory are the test's own.
func NATSWith(t testing.TB, cfg bus.EmbeddedConfig) *server.Server {
	t.Helper()
	cfg.Listen, cfg.StoreDir = "127.0.0.1:-1", t.TempDir()
	ns, err := bus.StartEmbedded(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// NATSWithConfig starts a server with the configuration file path (users
// and permissions, limits), on a free port of 127.0.0.1 with its store in a
// temporary directory, stopped when the test ends.
func NATSWithConfig(t testing.TB, path string) *server.Server {
	t.Helper()
	opts, err := server.ProcessConfigFile(path)
	require.NoError(t, err)
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
	opts.StoreDir = t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	require.NoError(t, err)
	go ns.Start()
	require.True(t, ns.ReadyForConnections(10*time.Second), "testenv: NATS with %s not ready", path)
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// JetStream connects to ns and provisions the streams of the contract.
func JetStream(t testing.TB, ns *server.Server) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, bus.Provision(ctx, js, bus.Config{}))
	return nc, js
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("testenv: random: %v", err))
	}
	return hex.EncodeToString(b)
}
