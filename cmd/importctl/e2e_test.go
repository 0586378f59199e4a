package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/testenv"
)

// TestEndToEndAgainstDev builds importd, runs `importd dev` as a process on
// a fresh database and free ports, and drives importctl through a delivery
// of mixed products: submit --watch, status, summary, product, errors (and
// --csv), imports, and the refusals of cancel and retry. Every step is a
// subtest of its own, so that one missing piece of the server fails one
// step and not the rest; every wait is bounded.
func TestEndToEndAgainstDev(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	dev := startDev(t)
	env := map[string]string{"IMPORTD_API": dev.api, "NATS_URL": dev.nats}
	const (
		merchant      = "e2e-acme"
		typesReceipt  = "e2e-types-0001"
		productsRcpt  = "e2e-products-0001"
		reference     = "e2e-products-ref"
		malformedLine = "line:5"
	)
	dir := t.TempDir()
	types := filepath.Join(dir, "types.ndjson")
	require.NoError(t, os.WriteFile(types, []byte(`{"key":"e2e-apparel","name":"Apparel"}`+"\n"), 0o600))
	products := filepath.Join(dir, "products.ndjson")
	require.NoError(t, os.WriteFile(products, []byte(strings.Join([]string{
		// valid
		`{"key":"e2e-tshirt","productType":{"key":"e2e-apparel"},"name":{"en":"T-shirt"},"slug":{"en":"e2e-tshirt"},"masterVariant":{"sku":"E2E-TS-M","prices":[{"value":{"currencyCode":"EUR","centAmount":1999}}]}}`,
		`{"key":"e2e-jeans","productType":{"key":"e2e-apparel"},"name":{"en":"Jeans"},"slug":{"en":"e2e-jeans"},"masterVariant":{"sku":"E2E-JEANS-32"}}`,
		// INVALID_CURRENCY (and NEGATIVE_AMOUNT)
		`{"key":"e2e-hoodie","productType":{"key":"e2e-apparel"},"name":{"en":"Hoodie"},"slug":{"en":"e2e-hoodie"},"masterVariant":{"sku":"E2E-HOODIE-L","prices":[{"value":{"currencyCode":"EURO","centAmount":-1}}]}}`,
		// REQUIRED_FIELD name
		`{"key":"e2e-nameless","productType":{"key":"e2e-apparel"},"slug":{"en":"e2e-nameless"},"masterVariant":{"sku":"E2E-NAMELESS"}}`,
		// MALFORMED_RECORD, tracked as line:5
		`{"key":"e2e-socks","name":{"en":"Socks"}`,
	}, "\n")+"\n"), 0o600))

	// The product type first, so that the valid products resolve at once.
	r := runE2E(t, env, "submit", types, "--merchant", merchant, "--data", "ProductType",
		"--receipt", typesReceipt, "--watch", "--timeout", "45s")
	require.Equal(t, exitOK, r.code, "submit types: stderr:\n%s", r.stderr)
	require.Equal(t, typesReceipt+"\n", r.stdout)
	require.Contains(t, r.stderr, "CompletedSuccessfully (6)")

	r = runE2E(t, env, "submit", products, "--merchant", merchant, "--receipt", productsRcpt,
		"--foreign-key", reference, "--skip-errors", "--watch", "--timeout", "45s")
	require.Equal(t, productsRcpt+"\n", r.stdout, "stdout is the receipt id alone")
	require.NotEqual(t, exitTimeout, r.code, "the delivery did not end within 45s: stderr:\n%s", r.stderr)
	require.Equal(t, exitFailed, r.code, "submit products --watch: completed with errors: stderr:\n%s", r.stderr)

	t.Run("submit --watch result", func(t *testing.T) {
		for _, s := range []string{
			"CompletedWithErrors (7)", "2 successful, 0 pending, 3 failed (5 in all)",
			"Job status:   completed", "Errors:       3 failed operations",
			"INVALID_CURRENCY", "REQUIRED_FIELD", "MALFORMED_RECORD",
			"Exit code 1: completed with errors",
		} {
			require.Contains(t, r.stderr, s)
		}
	})

	t.Run("status", func(t *testing.T) {
		r := runE2E(t, env, "status", productsRcpt)
		require.Equal(t, exitFailed, r.code, "stderr: %s", r.stderr)
		require.Contains(t, r.stdout, "CompletedWithErrors (7)")
		require.Contains(t, r.stdout, "Job status:   completed")
		require.Contains(t, r.stdout, "Foreign key:  "+reference)

		r = runE2E(t, env, "status", "e2e-unknown-0001")
		require.Equal(t, exitNotFound, r.code)
		require.Contains(t, r.stderr, "no delivery with receipt e2e-unknown-0001")
	})

	t.Run("watch of an unknown receipt", func(t *testing.T) {
		r := runE2E(t, env, "watch", "e2e-unknown-0002", "--grace", "1s")
		require.Equal(t, exitNotFound, r.code, "stderr: %s", r.stderr)
		require.Contains(t, r.stderr, "no delivery with receipt e2e-unknown-0002, still after 1s")
	})

	t.Run("operations", func(t *testing.T) {
		r := runE2E(t, env, "operations", productsRcpt)
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		require.Regexp(t, `(?m)^ID +LINE +TYPE +KEY +STATE +RETRIES +DETAIL$`, r.stdout)
		require.Regexp(t, `(?m)^\S+ +1 +Product +e2e-tshirt +imported +0 `, r.stdout)
		require.Regexp(t, `(?m)^\S+ +3 +Product +e2e-hoodie +validationFailed +0 +INVALID_CURRENCY `, r.stdout)
		require.Regexp(t, `(?m)^\S+ +5 +Product +`+malformedLine+` +validationFailed +0 +MALFORMED_RECORD`, r.stdout)

		r = runE2E(t, env, "operations", productsRcpt, "--state", "validationFailed", "--limit", "1", "--all", "--json")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		var p Page[Operation]
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &p), r.stdout)
		require.Len(t, p.Items, 3, "three pages of one, followed")
		for _, op := range p.Items {
			require.Equal(t, "validationFailed", op.State)
		}

		r = runE2E(t, env, "operations", productsRcpt, "--limit", "2")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		require.Contains(t, r.stderr, "more operations: --cursor ")

		r = runE2E(t, env, "operations", "e2e-unknown-0001")
		require.Equal(t, exitNotFound, r.code)

		t.Run("operation", func(t *testing.T) {
			hoodie := p.Items[slices.IndexFunc(p.Items, func(op Operation) bool { return op.ResourceKey == "e2e-hoodie" })]
			r := runE2E(t, env, "operation", hoodie.ID)
			require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
			for _, s := range []string{"Operation:   " + hoodie.ID, "Delivery:    " + productsRcpt + " (merchant " + merchant + ")",
				"State:       validationFailed", "INVALID_CURRENCY", "History of Product e2e-hoodie:"} {
				require.Contains(t, r.stdout, s)
			}
			require.Regexp(t, `(?m)^\S+ +2000 +`, r.stdout, "the received event")
			require.Regexp(t, `(?m)^\S+ +2001 +`, r.stdout, "the validation failure")

			r = runE2E(t, env, "operation", hoodie.ID, "--json")
			require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
			var out struct {
				Operation Operation         `json:"operation"`
				History   []json.RawMessage `json:"history"`
			}
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
			require.Equal(t, hoodie.ID, out.Operation.ID)
			require.NotEmpty(t, out.History)

			r = runE2E(t, env, "operation", "7b0e3c4e-0000-4000-8000-00000000ffff")
			require.Equal(t, exitNotFound, r.code)
		})
	})

	t.Run("summary", func(t *testing.T) {
		r := runE2E(t, env, "summary", "--json")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		var s Summary
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &s), r.stdout)
		i := slices.IndexFunc(s.Merchants, func(m SummaryRow) bool { return m.MerchantID == merchant })
		require.GreaterOrEqual(t, i, 0, "no row of %s: %s", merchant, r.stdout)
		m := s.Merchants[i]
		require.EqualValues(t, 2, m.Deliveries)
		require.EqualValues(t, 3, m.Operations["imported"], "a product type and two products")
		require.EqualValues(t, 3, m.Operations["validationFailed"])
		require.EqualValues(t, 0, m.Operations["processing"])
		require.EqualValues(t, 2, s.Total.Deliveries)

		r = runE2E(t, env, "summary", "--status", "completed")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		require.Regexp(t, `(?m)^MERCHANT +DELIVERIES +processing .* canceled$`, r.stdout)
		require.Regexp(t, `(?m)^`+merchant+` +2 +0 +0 +0 +3 +0 +3 +0 +0$`, r.stdout)
		require.Regexp(t, `(?m)^TOTAL +2 +0 +0 +0 +3 +0 +3 +0 +0$`, r.stdout)
	})

	t.Run("product", func(t *testing.T) {
		r := runE2E(t, env, "product", productsRcpt, "e2e-tshirt")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		require.GreaterOrEqual(t, len(lines), 3, r.stdout)
		require.Regexp(t, `^TIME +CODE +MESSAGE$`, lines[0])
		require.Regexp(t, `^\S+ +2000 +`, lines[1], "received first")
		require.Regexp(t, `^\S+ +2201 +`, lines[len(lines)-1], "imported last")

		r = runE2E(t, env, "product", productsRcpt, malformedLine)
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		require.Contains(t, r.stdout, " 2001 ", "validation failed")

		r = runE2E(t, env, "product", productsRcpt, "e2e-nothing")
		require.Equal(t, exitNotFound, r.code)
	})

	t.Run("errors", func(t *testing.T) {
		r := runE2E(t, env, "errors", productsRcpt)
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		for _, s := range []string{"Errors by code:", "INVALID_CURRENCY", "REQUIRED_FIELD", "MALFORMED_RECORD", "e2e-hoodie", "e2e-nameless"} {
			require.Contains(t, r.stdout, s)
		}
		require.NotContains(t, r.stdout, "Missing references", "nothing waits")
	})

	t.Run("inputs", func(t *testing.T) {
		want, err := os.ReadFile(products)
		require.NoError(t, err)
		r := runE2E(t, env, "inputs", productsRcpt)
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		require.Equal(t, string(want), r.stdout, "the body as submitted")
		out := filepath.Join(dir, "inputs.ndjson")
		r = runE2E(t, env, "inputs", productsRcpt, "-o", out)
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		got, err := os.ReadFile(out)
		require.NoError(t, err)
		require.Equal(t, want, got)
		missing := filepath.Join(dir, "missing.ndjson")
		r = runE2E(t, env, "inputs", "e2e-nothing-0001", "-o", missing)
		require.Equal(t, exitNotFound, r.code)
		require.NoFileExists(t, missing, "no file for a body that is not there")
	})

	t.Run("errors --csv", func(t *testing.T) {
		r := runE2E(t, env, "errors", productsRcpt, "--csv")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
		require.NoError(t, err, r.stdout)
		require.NotEmpty(t, rows)
		require.Equal(t, []string{"operationId", "line", "resourceKey", "resourceType", "state", "type", "code", "field", "description"}, rows[0])
		codes := map[string]bool{}
		keys := map[string]bool{}
		for _, row := range rows[1:] {
			require.Equal(t, "validationFailed", row[4], "%q", row)
			codes[row[6]] = true
			keys[row[2]] = true
		}
		for _, c := range []string{"INVALID_CURRENCY", "REQUIRED_FIELD", "MALFORMED_RECORD"} {
			require.True(t, codes[c], "no %s row in:\n%s", c, r.stdout)
		}
		require.True(t, keys["e2e-hoodie"] && keys["e2e-nameless"], "%s", r.stdout)
		require.False(t, keys["e2e-tshirt"], "an operation without errors has no row")
	})

	t.Run("imports", func(t *testing.T) {
		r := runE2E(t, env, "imports")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		require.Regexp(t, `(?m)^`+productsRcpt+` +completed +Product +5 +2 +3 `, r.stdout)
		require.Regexp(t, `(?m)^`+typesReceipt+` +completed +ProductType +1 +1 +0 `, r.stdout)
		require.Less(t, strings.Index(r.stdout, productsRcpt), strings.Index(r.stdout, typesReceipt), "newest first")

		r = runE2E(t, env, "imports", "--reference", reference, "--json")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		var p Page[Job]
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &p), r.stdout)
		require.Len(t, p.Items, 1)
		require.Equal(t, productsRcpt, p.Items[0].ReceiptID)
		require.Nil(t, p.NextCursor)

		// One per page: --all follows the service's cursors.
		r = runE2E(t, env, "imports", "--limit", "1", "--all", "--json")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		p = Page[Job]{}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &p), r.stdout)
		require.Len(t, p.Items, 2)
		require.Equal(t, []string{productsRcpt, typesReceipt}, []string{p.Items[0].ReceiptID, p.Items[1].ReceiptID})

		r = runE2E(t, env, "imports", "--limit", "1")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		require.Contains(t, r.stderr, "more deliveries: --cursor ")

		r = runE2E(t, env, "imports", "--status", "pending", "--json")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		require.JSONEq(t, `{"items":[],"nextCursor":null}`, r.stdout)
	})

	t.Run("cancel of a completed delivery", func(t *testing.T) {
		r := runE2E(t, env, "cancel", productsRcpt)
		require.Equal(t, exitFailed, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
		require.Contains(t, r.stderr, "refused")
		require.Contains(t, r.stderr, "completed")
		require.Empty(t, r.stdout)
	})

	t.Run("retry without a rejected operation", func(t *testing.T) {
		r := runE2E(t, env, "retry", productsRcpt)
		require.Equal(t, exitFailed, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
		require.Contains(t, r.stderr, "refused")
		require.Empty(t, r.stdout)
	})

	t.Run("cancel of a parked delivery", func(t *testing.T) {
		// Products in a category that never comes: they park, and the
		// delivery would wait for ever; cancel ends it.
		parked := filepath.Join(dir, "parked.ndjson")
		var lines []string
		for i := range 5 {
			lines = append(lines, fmt.Sprintf(`{"key":"e2e-parked-%d","productType":{"key":"e2e-apparel"},"name":{"en":"P"},"slug":{"en":"e2e-parked-%d"},"categories":[{"key":"e2e-never"}],"masterVariant":{"sku":"E2E-PARKED-%d"}}`, i, i, i))
		}
		require.NoError(t, os.WriteFile(parked, []byte(strings.Join(lines, "\n")), 0o600))
		const receipt = "e2e-parked-0001"
		r := runE2E(t, env, "submit", parked, "--merchant", merchant, "--receipt", receipt)
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		require.Eventually(t, func() bool {
			r := runE2E(t, env, "errors", receipt, "--json")
			return r.code == exitOK && strings.Contains(r.stdout, `"operations":5`)
		}, 30*time.Second, 200*time.Millisecond, "five operations parked on e2e-never")
		r = runE2E(t, env, "errors", receipt)
		require.Contains(t, r.stdout, "e2e-never")

		r = runE2E(t, env, "cancel", receipt)
		require.Equal(t, exitOK, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
		require.Contains(t, r.stdout, "interrupted")
		r = runE2E(t, env, "status", receipt)
		require.Equal(t, exitFailed, r.code, "an interrupted delivery: stdout: %s", r.stdout)
		require.Contains(t, r.stdout, "interrupted")
		r = runE2E(t, env, "errors", receipt, "--csv")
		require.Equal(t, exitOK, r.code)
		require.Equal(t, 6, strings.Count(r.stdout, "\n"), "a header and one CANCELED row per operation: %s", r.stdout)
		require.Equal(t, 5, strings.Count(r.stdout, "CANCELED"))
		r = runE2E(t, env, "product", receipt, "e2e-parked-3")
		require.Contains(t, r.stdout, "2300", "the canceled event ends the history: %s", r.stdout)
	})

	t.Run("inputs gzip", func(t *testing.T) {
		// Another merchant, and last, so that no list above sees it.
		r := runE2E(t, env, "submit", types, "--merchant", "e2e-gzip", "--data", "ProductType", "--receipt", "e2e-types-gzip", "--gzip", "--watch", "--timeout", "60s")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		want, err := os.ReadFile(types)
		require.NoError(t, err)
		r = runE2E(t, env, "inputs", "e2e-types-gzip")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		zr, err := gzip.NewReader(strings.NewReader(r.stdout))
		require.NoError(t, err, "gzipped as it came")
		got, err := io.ReadAll(zr)
		require.NoError(t, err)
		require.Equal(t, want, got)
		r = runE2E(t, env, "inputs", "e2e-types-gzip", "--decompress")
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		require.Equal(t, string(want), r.stdout)
	})
}

// devServer is a running `importd dev`.
type devServer struct {
	api  string // query service base URL
	nats string // the embedded NATS server's URL
}

// startDev builds importd and runs `importd dev` on a fresh database and
// free ports until the test ends; it returns once /readyz answers 200.
func startDev(t *testing.T) devServer {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "importd")
	bctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	out, err := exec.CommandContext(bctx, "go", "build", "-o", bin, "github.com/importd/importd/cmd/importd").CombinedOutput()
	cancel()
	require.NoError(t, err, "build importd: %s", out)

	dbURL := testenv.DBURL(t) // dropped after the process is stopped (cleanups run last first)
	natsAddr, httpAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "dev")
	cmd.Env = append(filteredEnv("DATABASE_URL", "NATS_URL", "IMPORTD_"),
		"DATABASE_URL="+dbURL,
		"IMPORTD_NATS_LISTEN="+natsAddr,
		"IMPORTD_HTTP_ADDR="+httpAddr,
		"IMPORTD_METRICS_ADDR=127.0.0.1:0", // tests run side by side: a free port each
		"IMPORTD_DATA_DIR="+t.TempDir(),
		"IMPORTD_LOG_LEVEL=info",
	)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("importd dev output (last 16 KiB):\n%s", logs.tail(16<<10))
		}
	})

	api := "http://" + httpAddr
	deadline := time.Now().Add(90 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-exited:
			t.Fatalf("importd dev exited before it was ready:\n%s", logs.tail(16<<10))
		default:
		}
		resp, err := client.Get(api + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("importd dev not ready at %s/readyz within 90s (last: %v):\n%s", api, err, logs.tail(16<<10))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return devServer{api: api, nats: "nats://" + natsAddr}
}

// runE2E runs importctl in-process against the dev server, polling as a
// person would, bounded by a minute.
func runE2E(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := &cli{
		stdin:        strings.NewReader(""),
		stdout:       &stdout,
		stderr:       &stderr,
		getenv:       func(k string) string { return env[k] },
		pollInterval: 100 * time.Millisecond,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := c.run(ctx, args)
	t.Logf("importctl %s → %d", strings.Join(args, " "), code)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// freeAddr returns a loopback address with a port free at the moment.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// filteredEnv returns the environment without the variables named or
// prefixed by drop, so that the developer's own settings do not leak in.
func filteredEnv(drop ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(drop, func(d string) bool { return name == d || strings.HasSuffix(d, "_") && strings.HasPrefix(name, d) }) {
			env = append(env, kv)
		}
	}
	return env
}

// syncBuffer is a bytes.Buffer written by a process's two streams at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b.Bytes()
	if len(b) > n {
		return fmt.Sprintf("…%s", b[len(b)-n:])
	}
	return string(b)
}
