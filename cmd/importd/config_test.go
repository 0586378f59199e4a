package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
	for _, v := range []string{"DATABASE_URL", "NATS_URL", "IMPORTD_NATS_LISTEN", "IMPORTD_DATA_DIR", "IMPORTD_HTTP_ADDR",
		"IMPORTD_RETENTION", "IMPORTD_TOKENS_FILE", "IMPORTD_LOG_LEVEL", "IMPORTD_STREAM_REPLICAS", "IMPORTD_ACK_WAIT",
		"IMPORTD_DELIVERIES_MAX_BYTES", "IMPORTD_WORK_MAX_BYTES", "IMPORTD_EVENTS_MAX_BYTES", "IMPORTD_PAYLOADS_MAX_BYTES",
		"IMPORTD_MAX_WAITING_DELIVERIES", "NATS_CREDS", "NATS_NKEY", "NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY"} {
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
	require.False(t, c.DatabaseURLSet || c.NATSURLSet)
	c.setDev()
	require.Equal(t, "127.0.0.1:8080", c.HTTPAddr, "dev, which may run without tokens, serves this machine only")

	t.Setenv("IMPORTD_HTTP_ADDR", ":9090")
	c, err = loadConfig()
	require.NoError(t, err)
	c.setDev()
	require.Equal(t, ":9090", c.HTTPAddr, "unless told otherwise")
	t.Setenv("IMPORTD_HTTP_ADDR", "")

	require.Equal(t, int64(2<<30), c.Limits.WorkBytes)
	require.Equal(t, int64(100), c.Limits.WaitingDeliveries)
	t.Setenv("IMPORTD_PAYLOADS_MAX_BYTES", "16GiB")
	c, err = loadConfig()
	require.NoError(t, err)
	require.Equal(t, int64(16<<30), c.Limits.PayloadsBytes)
	t.Setenv("IMPORTD_PAYLOADS_MAX_BYTES", "lots")
	_, err = loadConfig()
	require.ErrorContains(t, err, "IMPORTD_PAYLOADS_MAX_BYTES")
	t.Setenv("IMPORTD_PAYLOADS_MAX_BYTES", "")

	t.Setenv("NATS_TLS_CERT", "client.pem")
	_, err = loadConfig()
	require.ErrorContains(t, err, "NATS_TLS_CERT and NATS_TLS_KEY go together")
	t.Setenv("NATS_TLS_CERT", "")

	t.Setenv("IMPORTD_LOG_LEVEL", "loud")
	_, err = loadConfig()
	require.ErrorContains(t, err, "IMPORTD_LOG_LEVEL")
}
