package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/tracking"
)

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// freshDB creates database importbench_<random> on the server of adminURL,
// applies the migrations and the partitions, and returns its URL, a pool on
// it and a function that drops it.
func freshDB(ctx context.Context, adminURL, suffix string) (string, *pgxpool.Pool, func(), error) {
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", nil, nil, fmt.Errorf("connect to %s: %w", adminURL, err)
	}
	defer admin.Close(ctx)
	name := "importbench_" + randomHex(5) + suffix
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			fmt.Fprintf(os.Stderr, "importbench: drop %s: %v\n", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "importbench: drop %s: %v\n", name, err)
		}
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		drop()
		return "", nil, nil, err
	}
	u.Path = "/" + name
	dbURL := u.String()
	pool, err := database.Open(ctx, dbURL, "importbench")
	if err != nil {
		drop()
		return "", nil, nil, err
	}
	if err := database.Migrate(ctx, pool); err != nil {
		pool.Close()
		drop()
		return "", nil, nil, err
	}
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	if err == nil {
		err = store.EnsurePartitions(ctx)
	}
	if err != nil {
		pool.Close()
		drop()
		return "", nil, nil, err
	}
	return dbURL, pool, func() { pool.Close(); drop() }, nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// buildImportd builds ./cmd/importd into dir.
func buildImportd(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "importd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/importd/importd/cmd/importd")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/importd: %w\n%s", err, out)
	}
	return bin, nil
}

// proc is one importd process.
type proc struct {
	role  string
	name  string // role and instance: "ingest-0"
	addr  string // IMPORTD_HTTP_ADDR
	debug string // IMPORTD_DEBUG_ADDR, when profiling
	cmd   *exec.Cmd
	done  chan struct{}
	err   error

	mu   sync.Mutex
	tail []string // the last lines of its log
	peak int64    // VmHWM read just before it was stopped
}

// startImportd starts one importd process; with debug it serves pprof on
// a free port (proc.debug).
func startImportd(bin, role string, instance int, env []string, logDir string, debug bool) (*proc, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &proc{role: role, name: role + "-" + strconv.Itoa(instance), addr: addr, done: make(chan struct{})}
	// Every process of the run on one machine: each its own metrics port.
	env = append(env, "IMPORTD_HTTP_ADDR="+addr, "IMPORTD_METRICS_ADDR=127.0.0.1:0")
	if debug {
		if p.debug, err = freePort(); err != nil {
			return nil, err
		}
		env = append(env, "IMPORTD_DEBUG_ADDR="+p.debug)
	}
	p.cmd = exec.Command(bin, role)
	p.cmd.Env = append(os.Environ(), env...)
	logFile, err := os.Create(filepath.Join(logDir, p.name+".log"))
	if err != nil {
		return nil, err
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	p.cmd.Stdout = logFile
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start importd %s: %w", role, err)
	}
	copied := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			p.mu.Lock()
			p.tail = append(p.tail, line)
			if len(p.tail) > 20 {
				p.tail = p.tail[1:]
			}
			p.mu.Unlock()
		}
		close(copied)
	}()
	go func() {
		<-copied
		p.err = p.cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports an error when the process has stopped.
func (p *proc) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("importd %s exited: %v\n%s", p.name, p.err, p.logTail())
	default:
		return nil
	}
}

func (p *proc) logTail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// stop records the peak RSS, then stops the process with SIGTERM (SIGKILL
// after 30s).
func (p *proc) stop() {
	if p.peak == 0 {
		p.peak = procStatus(p.cmd.Process.Pid)["VmHWM"]
	}
	terminate(p.cmd.Process, p.done)
}

// terminate stops a process with SIGTERM, SIGKILL after 30s, and waits
// until done is closed.
func terminate(p *os.Process, done <-chan struct{}) {
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.Kill()
		<-done
	}
}

// procStatus returns the memory fields of /proc/<pid>/status in bytes
// (VmHWM, VmRSS, RssAnon, RssFile, RssShmem); empty when the process is gone.
func procStatus(pid int) map[string]int64 {
	out := map[string]int64{}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok || !strings.HasSuffix(v, "kB") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err == nil {
			out[name] = kb << 10
		}
	}
	return out
}

// statFields returns the fields of /proc/<pid>/stat after the command
// name (the state is f[0]), nil when the process is gone.
func statFields(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// ppid returns the parent of pid.
func ppid(pid int) int {
	f := statFields(pid)
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// cpuSeconds returns the CPU time (user + system) pid has used so far, 0
// when the process is gone. importbench's own it reads from getrusage, to
// the microsecond: the COPY limit's client uses a few milliseconds in a
// small run, less than the ticks of /proc/<pid>/stat show.
func cpuSeconds(pid int) float64 {
	if pid == os.Getpid() {
		var ru syscall.Rusage
		if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
			return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
		}
	}
	f := statFields(pid)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

var errTimeout = errors.New("importbench: timed out")
