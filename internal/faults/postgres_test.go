package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pgCluster is a PostgreSQL cluster the test owns, so that it can restart it.
type pgCluster struct {
	t       *testing.T
	bin     string
	dir     string // owned by the server's user: data, socket and log
	port    int
	asUser  []string // runuser prefix when the test runs as root
	stopped bool
}

// pgBin finds initdb and pg_ctl: on the PATH or in the versioned
// directories of Debian and RPM installations (as cmd/importd's devpg.go).
func pgBin() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	var dirs []string
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin"} {
		m, _ := filepath.Glob(pattern)
		dirs = append(dirs, m...)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("no initdb/pg_ctl on the PATH nor in /usr/lib/postgresql/*/bin")
}

// startPostgres initialises and starts a cluster on a free port. initdb
// refuses to run as root: as root, the cluster belongs to the postgres user
// and every command runs through runuser. Where that is impossible the
// test is skipped, saying why.
func startPostgres(t *testing.T) *pgCluster {
	t.Helper()
	bin, err := pgBin()
	if err != nil {
		t.Skipf("PostgreSQL restart test needs a local installation: %v", err)
	}
	c := &pgCluster{t: t, bin: bin, port: freePort(t)}
	c.dir, err = os.MkdirTemp("", "faults-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(c.dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root, and initdb refuses root: a postgres user is needed to own the cluster (%v)", err)
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			t.Skipf("running as root, and initdb refuses root: runuser is needed to run it as postgres (%v)", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		require.NoError(t, os.Chown(c.dir, uid, gid))
		c.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	start := time.Now()
	out, err := c.command(filepath.Join(bin, "initdb"), "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput()
	require.NoError(t, err, "initdb: %s", out)
	t.Cleanup(func() {
		if out, err := c.ctl("stop", "-m", "immediate"); err != nil && !c.stopped {
			t.Logf("stopping the test's PostgreSQL: %v: %s", err, out)
		}
	})
	out, err = c.ctl("start")
	require.NoError(t, err, "pg_ctl start: %s\n%s", out, c.logTail())
	t.Logf("faults: own PostgreSQL (%s) on port %d, initialised and started in %s", bin, c.port, time.Since(start).Round(time.Millisecond))
	return c
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

func (c *pgCluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

func (c *pgCluster) command(name string, args ...string) *exec.Cmd {
	argv := append(append(append([]string(nil), c.asUser...), name), args...)
	return exec.Command(argv[0], argv[1:]...)
}

// ctl runs pg_ctl action (start, stop, restart) with the cluster's options.
func (c *pgCluster) ctl(action string, args ...string) ([]byte, error) {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", c.port, c.dir)
	argv := append([]string{"-D", c.data(), "-o", opts, "-l", filepath.Join(c.dir, "postgres.log"), "-w", "-t", "120"}, args...)
	argv = append(argv, action)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := c.command(filepath.Join(c.bin, "pg_ctl"), argv...)
	cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	return cmd.CombinedOutput()
}

func (c *pgCluster) logTail() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
	return lastLines(string(b), 20)
}
