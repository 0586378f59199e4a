package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

// TestAuditExitStatus runs `importd audit`: 0 when clean, 1 on violations,
// 2 on usage and connection errors.
func TestAuditExitStatus(t *testing.T) {
	t.Parallel()
	bin := buildImportd(t)
	dbURL := testenv.DBURL(t)
	ctx := context.Background()
	pool, err := database.Open(ctx, dbURL, "importd test")
	require.NoError(t, err)
	defer pool.Close()
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	// A delivery without records: accepted, read, completed as NoContent.
	d, _, err := store.DeliveryBegin(ctx, tracking.Delivery{ReceiptID: "audit-cmd-1", MerchantID: "m1", AcceptedAt: time.Now(),
		Data: "Product", Format: "ndjson", ContractVersion: "1.0", Source: "test:1"})
	require.NoError(t, err)
	require.NoError(t, store.IngestFinish(ctx, &d, tracking.IngestDone, nil, 0))

	audit := func(env string, args ...string) (int, string, string) {
		cmd := exec.Command(bin, append([]string{"audit"}, args...)...)
		cmd.Env = append(os.Environ(), "DATABASE_URL="+env)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), stdout.String(), stderr.String()
		}
		require.NoError(t, err)
		return 0, stdout.String(), stderr.String()
	}

	code, out, errOut := audit(dbURL, "--all")
	require.Equal(t, 0, code, "%s%s", out, errOut)
	require.Equal(t, "audited 1 deliveries, 0 operations, 3 events: 0 violations\n", out)
	code, out, _ = audit(dbURL, "audit-cmd-1", "--grace", "10s")
	require.Equal(t, 0, code)
	require.Contains(t, out, "audited 1 deliveries")

	_, err = pool.Exec(ctx, `DELETE FROM tracking_events WHERE receipt_id = 'audit-cmd-1' AND code = 1003`)
	require.NoError(t, err)
	code, out, _ = audit(dbURL, "audit-cmd-1")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "receipt audit-cmd-1: completion: completed without records: 0 NoContent")
	require.Contains(t, out, ": 1 violations\n")
	code, _, _ = audit(dbURL, "--all")
	require.Equal(t, 1, code)

	for _, tt := range []struct {
		name string
		url  string
		args []string
		want string
	}{
		{"unknown receipt", dbURL, []string{"nope-nope"}, "not found"},
		{"no receipt", dbURL, nil, "usage"},
		{"receipt and --all", dbURL, []string{"--all", "audit-cmd-1"}, "usage"},
		{"bad flag", dbURL, []string{"--frobnicate", "x"}, "usage"},
		{"bad grace", dbURL, []string{"--grace", "soon", "x"}, "usage"},
		{"no database", "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", []string{"--all"}, "database"},
	} {
		code, out, errOut := audit(tt.url, tt.args...)
		require.Equal(t, 2, code, "%s: %s%s", tt.name, out, errOut)
		require.Contains(t, errOut, tt.want, tt.name)
	}
}
