package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// iso8601 is a time as zapcore.ISO8601TimeEncoder writes it.
var iso8601 = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d{4})$`)

// importd healthcheck is a role runMain takes (the compose file's health
// checks call it): nothing answering is 1, not a usage error.
func TestRunMainHealthcheck(t *testing.T) {
	t.Setenv("IMPORTD_METRICS_ADDR", "127.0.0.1:1")
	var stdout, stderr bytes.Buffer
	require.Equal(t, 1, runMain([]string{"healthcheck"}, &stdout, &stderr))
	require.NotContains(t, stderr.String(), "unknown role")
}

func TestRunMainArguments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{"no role", nil, 2, "", "usage: importd ROLE"},
		{"help", []string{"help"}, 0, "usage: importd ROLE", ""},
		{"unknown role", []string{"bogus"}, 2, "",
			`importd: unknown role "bogus"; the roles are ingest, resolve, import, query, all, dev, migrate, audit, healthcheck (and version, help)`},
		{"arguments to a role", []string{"ingest", "now"}, 2, "", `importd: role ingest takes no arguments, got ["now"]`},
		{"version", []string{"version"}, 0, "importd ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			require.Equal(t, tt.code, runMain(tt.args, &stdout, &stderr))
			if tt.stdout == "" {
				require.Empty(t, stdout.String())
			} else {
				require.Contains(t, stdout.String(), tt.stdout)
			}
			if tt.stderr == "" {
				require.Empty(t, stderr.String())
			} else {
				require.Contains(t, stderr.String(), tt.stderr)
			}
		})
	}
}

// TestLoggerTimesISO8601 checks both logger configurations write ISO-8601
// times.
func TestLoggerTimesISO8601(t *testing.T) {
	t.Parallel()
	for _, dev := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "log")
		zc := loggerConfig(zapcore.InfoLevel, dev)
		zc.OutputPaths, zc.ErrorOutputPaths = []string{path}, []string{path}
		logger, err := zc.Build()
		require.NoError(t, err)
		logger.Info("hello", zap.String("k", "v"))
		require.NoError(t, logger.Sync())
		out, err := os.ReadFile(path)
		require.NoError(t, err)
		line := strings.TrimSpace(string(out))
		if dev {
			ts, _, _ := strings.Cut(line, "\t")
			require.Regexp(t, iso8601, ts, "dev line %q", line)
			continue
		}
		var entry struct {
			TS any `json:"ts"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &entry), line)
		ts, isString := entry.TS.(string)
		require.True(t, isString, "ts is %T in %s", entry.TS, line)
		require.Regexp(t, iso8601, ts)
	}
}

// TestStartupFailureReportedOnce runs importd migrate against a database
// that does not answer: the reason appears once on stderr, in the log (an
// ISO-8601 JSON line without a stack trace), or as a plain line when the
// log level hides errors.
func TestStartupFailureReportedOnce(t *testing.T) {
	t.Parallel()
	bin := buildImportd(t)
	run := func(env ...string) (int, string) {
		cmd := exec.Command(bin, "migrate")
		cmd.Env = append(os.Environ(), append([]string{"DATABASE_URL=postgres://postgres@127.0.0.1:1/none"}, env...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee), "want an exit status, got %v", err)
		return ee.ExitCode(), stderr.String()
	}

	code, stderr := run("IMPORTD_LOG_LEVEL=info")
	require.Equal(t, 1, code)
	require.Equal(t, 1, strings.Count(stderr, "cannot reach"), "once:\n%s", stderr)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	var entry struct {
		Level, TS, Msg, Role, Error, Stacktrace string
	}
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &entry), stderr)
	require.Equal(t, "error", entry.Level)
	require.Equal(t, "importd stopped", entry.Msg)
	require.Equal(t, "migrate", entry.Role)
	require.Contains(t, entry.Error, "cannot reach")
	require.Empty(t, entry.Stacktrace)
	require.Regexp(t, iso8601, entry.TS)

	code, stderr = run("IMPORTD_LOG_LEVEL=fatal")
	require.Equal(t, 1, code)
	require.Equal(t, 1, strings.Count(stderr, "cannot reach"), "once:\n%s", stderr)
	require.True(t, strings.HasPrefix(stderr, "importd migrate: database: cannot reach"), stderr)
}
