package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/importd/importd/internal/testenv"
)

func getStatus(t *testing.T, h http.Handler, path string) (int, map[string]string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var body map[string]string
	if rec.Header().Get("Content-Type") == "application/json" {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	}
	return rec.Code, body
}

// TestReadiness: /readyz is ready only once the dependencies are open and
// answer and every worker has started its consumers, and no longer once
// the process drains; /healthz answers throughout.
func TestReadiness(t *testing.T) {
	t.Parallel()
	rd := &readiness{}
	h := metricsHandler(rd, zaptest.NewLogger(t))
	ready := func() (int, string) {
		code, body := getStatus(t, h, "/readyz")
		return code, body["reason"]
	}

	code, _ := getStatus(t, h, "/healthz")
	require.Equal(t, http.StatusOK, code)
	code, why := ready()
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, why, "not opened yet")

	var depsErr error
	rd.open(func(context.Context) error { return depsErr })
	started := []func(){rd.worker(), rd.worker()}
	code, why = ready()
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, why, "2 worker(s)")
	started[0]()
	started[0]() // once only
	code, why = ready()
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, why, "1 worker(s)")
	started[1]()
	code, _ = ready()
	require.Equal(t, http.StatusOK, code)

	depsErr = errors.New("nats: not connected")
	code, why = ready()
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "nats: not connected", why)
	depsErr = nil
	code, _ = ready()
	require.Equal(t, http.StatusOK, code)

	rd.stop()
	code, why = ready()
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "stopping", why)
	code, _ = getStatus(t, h, "/healthz")
	require.Equal(t, http.StatusOK, code)

	code, _ = getStatus(t, h, "/debug/pprof/")
	require.Equal(t, http.StatusNotFound, code, "profiles stay on IMPORTD_DEBUG_ADDR")
}

// syncLog collects a process's log for the test to read while it runs.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startLogged starts bin role with env and collects its stderr.
func startLogged(t *testing.T, bin, role string, env []string) (*exec.Cmd, *syncLog, chan error) {
	t.Helper()
	cmd := exec.Command(bin, role)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	logs := &syncLog{}
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.mu.Lock()
			logs.b.WriteString(sc.Text() + "\n")
			logs.mu.Unlock()
		}
		done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, logs, done
}

var metricsAddrLog = regexp.MustCompile(`"msg":"metrics listening[^"]*".*"addr":"([^"]+)"`)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestMetricsListenerProcess runs importd all (every role in one process)
// and checks its one metrics listener: /healthz, /readyz once the roles
// run, /metrics with the roles' metrics; a second process told to listen
// on the same address stops at start-up naming IMPORTD_METRICS_ADDR.
func TestMetricsListenerProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("process test skipped in -short mode")
	}
	t.Parallel()
	bin := buildImportd(t)
	ns := testenv.NATS(t)
	tokens := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(tokens, []byte("metrics-test-operator-token *\n"), 0o600))
	env := []string{"DATABASE_URL=" + testenv.DBURL(t), "NATS_URL=" + ns.ClientURL(), "IMPORTD_LOG_LEVEL=info",
		"IMPORTD_HTTP_ADDR=127.0.0.1:0", "IMPORTD_TOKENS_FILE=" + tokens, "IMPORTD_METRICS_ADDR=127.0.0.1:0"}
	cmd, logs, done := startLogged(t, bin, "all", env)

	var addr string
	require.Eventually(t, func() bool {
		if m := metricsAddrLog.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	}, time.Minute, 10*time.Millisecond, "no metrics listener logged\n%s", logs)
	code, body := httpGet(t, "http://"+addr+"/healthz")
	require.Equal(t, http.StatusOK, code, body)
	require.Eventually(t, func() bool {
		code, _ := httpGet(t, "http://"+addr+"/readyz")
		return code == http.StatusOK
	}, time.Minute, 20*time.Millisecond, "never ready\n%s", logs)
	require.Eventually(t, func() bool {
		_, body = httpGet(t, "http://"+addr+"/metrics")
		// Every worker's lag, from the one listener of the process.
		// The parked gauge too, once the resolver's first sample is in.
		return strings.Contains(body, `importd_consumer_pending_messages{consumer="ingest"}`) &&
			strings.Contains(body, `importd_consumer_pending_messages{consumer="resolve"}`) &&
			strings.Contains(body, `importd_consumer_pending_messages{consumer="apply"}`) &&
			strings.Contains(body, "importd_operations_parked")
	}, time.Minute, 50*time.Millisecond, "lag or parked metrics missing:\n%s", body)
	require.Contains(t, body, "go_goroutines")

	// The address is taken: the second process stops, saying which setting.
	_, logs2, done2 := startLogged(t, bin, "resolve", append(env[:len(env)-1:len(env)-1], "IMPORTD_METRICS_ADDR="+addr))
	select {
	case err := <-done2:
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "%s", logs2)
		require.Equal(t, 1, exit.ExitCode())
		require.Contains(t, logs2.String(), "IMPORTD_METRICS_ADDR")
		require.Contains(t, logs2.String(), "address already in use")
	case <-time.After(time.Minute):
		t.Fatalf("importd resolve did not stop on a taken metrics address\n%s", logs2)
	}

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done:
		require.NoError(t, err, "%s", logs)
	case <-time.After(time.Minute):
		t.Fatalf("importd all did not stop\n%s", logs)
	}
	_, err := net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, err, "the listener is closed with the process")
}

// TestHealthcheck: importd healthcheck exits 0 only when /readyz of the
// metrics listener on IMPORTD_METRICS_ADDR says ready.
func TestHealthcheck(t *testing.T) {
	t.Parallel()
	rd := &readiness{}
	srv := httptest.NewServer(metricsHandler(rd, zaptest.NewLogger(t)))
	defer srv.Close()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	a := &app{cfg: config{MetricsAddr: ":" + port}, logger: zaptest.NewLogger(t)}
	var out strings.Builder
	err = a.healthcheck(context.Background(), &out)
	code, ok := exitCode(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, 1, code)
	require.Contains(t, out.String(), "503")

	rd.open(func(context.Context) error { return nil })
	out.Reset()
	require.NoError(t, a.healthcheck(context.Background(), &out), "an address on every interface is asked on 127.0.0.1")
	require.Contains(t, out.String(), `"ready"`)

	for _, addr := range []string{"", "127.0.0.1:0"} {
		a.cfg.MetricsAddr = addr
		_, ok = exitCode(a.healthcheck(context.Background(), &out))
		require.True(t, ok, addr)
	}
	srv.Close()
	a.cfg.MetricsAddr = srv.Listener.Addr().String()
	_, ok = exitCode(a.healthcheck(context.Background(), &out))
	require.True(t, ok, "nothing listens: not ready")
}
