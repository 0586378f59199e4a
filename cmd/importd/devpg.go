package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"

	"go.uber.org/zap"
)

// startPrivatePostgres initialises (once) and starts a PostgreSQL server of
// the local installation under dir, listening on a free loopback port. stop
// shuts it down.
func startPrivatePostgres(ctx context.Context, dir string, logger *zap.Logger) (dbURL string, stop func(), err error) {
	bin, err := postgresBin()
	if err != nil {
		return "", nil, err
	}
	if os.Geteuid() == 0 {
		return "", nil, errors.New("initdb refuses to run as root: run importd dev as a regular user, or set DATABASE_URL to a PostgreSQL server")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	pgdata := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(pgdata, "PG_VERSION")); err != nil {
		logger.Info("initialising a private PostgreSQL", zap.String("dir", pgdata))
		out, err := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", pgdata, "-U", "postgres", "--auth=trust", "-E", "UTF8").CombinedOutput()
		if err != nil {
			return "", nil, fmt.Errorf("initdb: %v: %s", err, out)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	pgctl := filepath.Join(bin, "pg_ctl")
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", port, dir)
	out, err := exec.CommandContext(ctx, pgctl, "-D", pgdata, "-o", opts, "-l", filepath.Join(dir, "postgres.log"), "-w", "start").CombinedOutput()
	if err != nil {
		return "", nil, fmt.Errorf("pg_ctl start: %v: %s (see %s)", err, out, filepath.Join(dir, "postgres.log"))
	}
	stop = func() {
		if out, err := exec.Command(pgctl, "-D", pgdata, "-m", "fast", "-w", "stop").CombinedOutput(); err != nil {
			logger.Warn("stopping the private PostgreSQL failed", zap.Error(err), zap.ByteString("output", out))
		}
	}
	return "postgres://postgres@127.0.0.1:" + strconv.Itoa(port) + "/postgres?sslmode=disable", stop, nil
}

// postgresBin finds the directory of initdb and pg_ctl: on the PATH, or in
// Debian's and RPM's versioned directories.
func postgresBin() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	var dirs []string
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin"} {
		m, _ := filepath.Glob(pattern)
		dirs = append(dirs, m...)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", errors.New("no local PostgreSQL installation found (initdb and pg_ctl are not on the PATH nor in /usr/lib/postgresql/*/bin): install PostgreSQL, or set DATABASE_URL to a server")
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// redactURL drops the password of a connection URL for printing.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable DATABASE_URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
