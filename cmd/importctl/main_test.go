package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/tracking"
)

func TestExitCodeOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc string
		err  error
		want int
	}{
		{"nil", nil, exitOK},
		{"help", flag.ErrHelp, exitOK},
		{"usage", usagef("bad"), exitUsage},
		{"not found", fmt.Errorf("%w: no delivery", ErrNotFound), exitNotFound},
		{"unauthorized", fmt.Errorf("%w: refused", ErrUnauthorized), exitUnauthorized},
		{"unreachable", fmt.Errorf("query service %w: %w", ErrUnreachable, &url.Error{Op: "Get", URL: "http://x", Err: errors.New("refused")}), exitUnreachable},
		{"other answer", fmt.Errorf("summary: %w", &HTTPError{Code: 500, Message: "internal error"}), exitUsage},
		{"conflict", fmt.Errorf("cancel r: %w: delivery r is completed", ErrConflict), exitFailed},
		{"gone", fmt.Errorf("inputs of r: %w: the body of delivery r is not kept", ErrGone), exitFailed},
		{"timeout", fmt.Errorf("watch: %w", errTimeout), exitTimeout},
		{"interrupted", fmt.Errorf("%w (signal)", errInterrupted), exitInterrupted},
		{"canceled", fmt.Errorf("publish: %w", context.Canceled), exitInterrupted},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, exitCodeOf(tt.err))
		})
	}
}

func TestStatusExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		st       tracking.DeliveryStatus
		code     int
		finished bool
	}{
		{tracking.StatusNoContent, exitOK, true},
		{tracking.StatusReceiving, exitOK, false},
		{tracking.StatusIngestionFailure, exitFailed, true},
		{tracking.StatusQueued, exitOK, false},
		{tracking.StatusProcessing, exitOK, false},
		{tracking.StatusCompletedSuccessfully, exitOK, true},
		{tracking.StatusCompletedWithErrors, exitFailed, true},
	}
	for _, tt := range tests {
		t.Run(tt.st.Name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.code, statusExitCode(tt.st.Code))
			require.Equal(t, tt.finished, finished(tt.st.Code))
		})
	}
}

func TestGlobals(t *testing.T) {
	t.Parallel()
	g := defaultGlobals(func(string) string { return "" })
	require.Equal(t, globals{api: defaultAPI, nats: defaultNATS}, g)

	env := map[string]string{"IMPORTD_API": "http://api:9", "IMPORTD_TOKEN": "tok", "NATS_URL": "nats://n:1"}
	g = defaultGlobals(func(k string) string { return env[k] })
	require.Equal(t, globals{api: "http://api:9", token: "tok", nats: "nats://n:1"}, g)

	// Before the command…
	cmd, rest, err := parseGlobals(&g, []string{"--api", "http://before:1", "status", "receipt-1", "--token", "after"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "status", cmd)
	require.Equal(t, []string{"receipt-1", "--token", "after"}, rest)
	require.Equal(t, "http://before:1", g.api)

	// …and after it.
	fs := newFlagSet("status", "importctl status RECEIPT", io.Discard)
	g.register(fs.FlagSet)
	pos, err := fs.parseInterspersed(rest)
	require.NoError(t, err)
	require.Equal(t, []string{"receipt-1"}, pos)
	require.Equal(t, "after", g.token)
	require.Equal(t, "http://before:1", g.api, "a flag given before the command stays")
}

func TestRunUsage(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, nil)
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "usage: importctl")

	r = runCLI(t, nil, nil, "help")
	require.Equal(t, exitOK, r.code)
	require.Contains(t, r.stdout, "Exit codes:")
	for _, cmd := range []string{"submit FILE", "status RECEIPT", "watch RECEIPT", "summary", "imports",
		"product RECEIPT ID", "errors RECEIPT", "cancel RECEIPT", "retry RECEIPT", "--operation ID", "--all", "--csv", "130",
		"operations RECEIPT", "--state S", "operation ID", "--grace D", "version", "4    not found", "5    unauthorized", "6    unreachable"} {
		require.Contains(t, r.stdout, cmd)
	}

	r = runCLI(t, nil, nil, "frobnicate")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, `unknown command "frobnicate"`)

	r = runCLI(t, nil, nil, "status", "-h")
	require.Equal(t, exitOK, r.code)
	require.Contains(t, r.stderr, "usage: importctl status RECEIPT")

	r = runCLI(t, nil, map[string]string{"IMPORTD_TOKEN": "secret-token"}, "submit", "-h")
	require.Equal(t, exitOK, r.code)
	require.NotContains(t, r.stderr, "secret-token", "-h must not show the token")

	r = runCLI(t, nil, nil, "status", "bad id")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "invalid receipt id")

	r = runCLI(t, nil, nil, "status", "receipt-1", "--api", "localhost:8080")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "want an http:// or https:// URL")
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, nil, "version")
	requireNoErr(t, r)
	require.True(t, strings.HasPrefix(r.stdout, "importctl "), r.stdout)
	require.Contains(t, r.stdout, "  module    github.com/importd/importd\n")
	require.Contains(t, r.stdout, "  revision  ")
	require.Contains(t, r.stdout, "  go        go1.")
	require.Empty(t, r.stderr)

	r = runCLI(t, nil, nil, "version", "now")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "version: want no argument")
}
