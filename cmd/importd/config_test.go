package main

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/importd/importd/internal/testenv"
)

func TestParseRetention(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"48h", 48 * time.Hour, true},
		{"1h", time.Hour, true},
		{"30d", 30 * 24 * time.Hour, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"59m", 0, false},
		{"31d", 0, false},
		{"forever", 0, false},
		{"xd", 0, false},
	}
	for _, tt := range tests {
		got, err := parseRetention(tt.in)
		if !tt.ok {
			require.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, got, tt.in)
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	for _, v := range []string{"DATABASE_URL", "NATS_URL", "IMPORTD_NATS_LISTEN", "IMPORTD_DATA_DIR", "IMPORTD_HTTP_ADDR", "IMPORTD_METRICS_ADDR",
		"IMPORTD_RETENTION", "IMPORTD_TOKENS_FILE", "IMPORTD_LOG_LEVEL", "IMPORTD_STREAM_REPLICAS", "IMPORTD_ACK_WAIT", "IMPORTD_REDRIVE_AFTER", "IMPORTD_RETRY_WINDOW", "IMPORTD_WORK_MAX_DELIVERIES",
		"IMPORTD_DELIVERIES_MAX_BYTES", "IMPORTD_WORK_MAX_BYTES", "IMPORTD_EVENTS_MAX_BYTES", "IMPORTD_PAYLOADS_MAX_BYTES",
		"IMPORTD_INPUTS_MAX_BYTES", "IMPORTD_INPUTS_MAX_BYTES_PER_MERCHANT", "IMPORTD_MAX_WAITING_DELIVERIES", "IMPORTD_QUERY_STATEMENT_TIMEOUT", "IMPORTD_QUERY_MAX_STREAMS", "IMPORTD_QUERY_MAX_STREAMS_PER_TOKEN", "NATS_CREDS", "NATS_NKEY", "NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY"} {
		t.Setenv(v, "")
	}
	c, err := loadConfig()
	require.NoError(t, err)
	require.Equal(t, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", c.DatabaseURL)
	require.Equal(t, "nats://127.0.0.1:4222", c.NATSURL)
	require.Equal(t, "127.0.0.1:4222", c.NATSListen)
	require.Equal(t, "./var", c.DataDir)
	require.Equal(t, ":8080", c.HTTPAddr)
	require.Equal(t, 48*time.Hour, c.Retention)
	require.Equal(t, 10*time.Minute, c.RetryWindow)
	require.False(t, c.DatabaseURLSet || c.NATSURLSet)
	require.Equal(t, 10*time.Minute, c.RedriveAfter)

	t.Setenv("IMPORTD_REDRIVE_AFTER", "500ms")
	_, err = loadConfig()
	require.ErrorContains(t, err, "IMPORTD_REDRIVE_AFTER")
	t.Setenv("IMPORTD_REDRIVE_AFTER", "")

	t.Setenv("IMPORTD_WORK_MAX_DELIVERIES", "5")
	_, err = loadConfig()
	require.ErrorContains(t, err, "IMPORTD_WORK_MAX_DELIVERIES", "fewer than the deliveries of five attempts")
	t.Setenv("IMPORTD_WORK_MAX_DELIVERIES", "")

	t.Setenv("IMPORTD_RETRY_WINDOW", "30m")
	_, err = loadConfig()
	require.ErrorContains(t, err, "longest wait between attempts")
	t.Setenv("IMPORTD_REDRIVE_AFTER", "21m")
	c, err = loadConfig()
	require.NoError(t, err)
	require.Equal(t, 21*time.Minute, c.RedriveAfter)
	t.Setenv("IMPORTD_RETRY_WINDOW", "")
	t.Setenv("IMPORTD_REDRIVE_AFTER", "")

	require.Equal(t, ":9090", c.MetricsAddr, "a role in a container serves probes and scrapes on every interface")
	c.setDev()
	require.Equal(t, "127.0.0.1:8080", c.HTTPAddr, "dev, which may run without tokens, serves this machine only")
	require.Equal(t, "127.0.0.1:9090", c.MetricsAddr)

	t.Setenv("IMPORTD_HTTP_ADDR", ":9090")
	c, err = loadConfig()
	require.NoError(t, err)
	c.setDev()
	require.Equal(t, ":9090", c.HTTPAddr, "unless told otherwise")
	require.Equal(t, "127.0.0.1:9091", c.MetricsAddr, "dev's metrics keep off its HTTP port")
	t.Setenv("IMPORTD_HTTP_ADDR", "")

	for _, tt := range []struct{ in, want string }{
		{"off", ""}, {"OFF", ""}, {"127.0.0.1:0", "127.0.0.1:0"}, {":9100", ":9100"}, {"[::1]:9100", "[::1]:9100"},
	} {
		t.Setenv("IMPORTD_METRICS_ADDR", tt.in)
		c, err = loadConfig()
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, c.MetricsAddr, tt.in)
		c.setDev()
		require.Equal(t, tt.want, c.MetricsAddr, "%s: dev keeps what it is told", tt.in)
	}
	t.Setenv("IMPORTD_METRICS_ADDR", "9090")
	_, err = loadConfig()
	require.ErrorContains(t, err, "IMPORTD_METRICS_ADDR")
	t.Setenv("IMPORTD_METRICS_ADDR", "")

	require.Equal(t, int64(2<<30), c.Limits.WorkBytes)
	require.Equal(t, int64(100), c.Limits.WaitingDeliveries)
	require.Equal(t, 2*time.Minute, c.QueryStatementTimeout)
	require.Equal(t, 16, c.QueryMaxStreams)
	require.Equal(t, 2, c.QueryStreamsPerToken)
	t.Setenv("IMPORTD_PAYLOADS_MAX_BYTES", "16GiB")
	c, err = loadConfig()
	require.NoError(t, err)
	require.Equal(t, int64(16<<30), c.Limits.PayloadsBytes)
	t.Setenv("IMPORTD_PAYLOADS_MAX_BYTES", "lots")
	_, err = loadConfig()
	require.ErrorContains(t, err, "IMPORTD_PAYLOADS_MAX_BYTES")
	t.Setenv("IMPORTD_PAYLOADS_MAX_BYTES", "")

	require.Equal(t, int64(4<<30), c.Limits.InputsBytes)
	require.Equal(t, int64(1<<30), c.Limits.InputsBytesPerMerchant)
	t.Setenv("IMPORTD_INPUTS_MAX_BYTES", "0")
	t.Setenv("IMPORTD_INPUTS_MAX_BYTES_PER_MERCHANT", "64MiB")
	c, err = loadConfig()
	require.NoError(t, err)
	require.Equal(t, int64(-1), c.Limits.InputsBytes, "0: no bodies kept")
	require.Equal(t, int64(64<<20), c.Limits.InputsBytesPerMerchant)
	t.Setenv("IMPORTD_INPUTS_MAX_BYTES_PER_MERCHANT", "0")
	_, err = loadConfig()
	require.ErrorContains(t, err, "IMPORTD_INPUTS_MAX_BYTES_PER_MERCHANT")
	t.Setenv("IMPORTD_INPUTS_MAX_BYTES", "")
	t.Setenv("IMPORTD_INPUTS_MAX_BYTES_PER_MERCHANT", "")

	t.Setenv("NATS_TLS_CERT", "client.pem")
	_, err = loadConfig()
	require.ErrorContains(t, err, "NATS_TLS_CERT and NATS_TLS_KEY go together")
	t.Setenv("NATS_TLS_CERT", "")

	t.Setenv("IMPORTD_LOG_LEVEL", "loud")
	_, err = loadConfig()
	require.ErrorContains(t, err, "IMPORTD_LOG_LEVEL")
	t.Setenv("IMPORTD_LOG_LEVEL", "")

	t.Setenv("IMPORTD_RETRY_WINDOW", "500ms")
	_, err = loadConfig()
	require.ErrorContains(t, err, "IMPORTD_RETRY_WINDOW")
}

// TestQueryStatementTimeout: the query service's statements end after
// IMPORTD_QUERY_STATEMENT_TIMEOUT.
func TestQueryStatementTimeout(t *testing.T) {
	t.Parallel()
	a := &app{cfg: config{DatabaseURL: testenv.DBURL(t), QueryStatementTimeout: 1500 * time.Millisecond}, logger: zaptest.NewLogger(t)}
	ctx := context.Background()
	pool, err := a.queryPool(ctx)
	require.NoError(t, err)
	defer pool.Close()
	var setting string
	require.NoError(t, pool.QueryRow(ctx, "SHOW statement_timeout").Scan(&setting))
	require.Equal(t, "1500ms", setting)
	_, err = pool.Exec(ctx, "SELECT pg_sleep(5)")
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "57014", pgErr.Code, "canceled by statement_timeout")
}
