package faults

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a process the test owns (an importd role or a NATS server),
// started again and again: each run appends to the same log file. A run
// that ends without the test killing it is a crash; a supervised proc is
// then restarted after a second, as a process supervisor would.
type proc struct {
	t       testing.TB
	name    string
	argv    []string
	env     []string
	logPath string
	ready   string // a line the process prints on stdout once it serves; "" for none

	mu        sync.Mutex
	cur       *run
	starts    int
	crashes   []string // how the crashed runs ended
	supervise bool     // restart after a crash
	closed    bool     // the test is over: no more restarts
}

// errClosed means the test is over: the proc is not started again.
var errClosed = errors.New("closed")

type run struct {
	cmd    *exec.Cmd
	done   chan struct{}
	killed bool
	err    error
}

func newProc(t testing.TB, name string, argv, env []string, logPath string) *proc {
	p := &proc{t: t, name: name, argv: argv, env: env, logPath: logPath}
	t.Cleanup(p.close)
	return p
}

// start starts a run and, when the proc has a ready line, waits for it.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("%s: %w", p.name, errClosed)
	}
	if p.cur != nil {
		select {
		case <-p.cur.done:
		default:
			return fmt.Errorf("%s: already running", p.name)
		}
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(logf, "=== faults: %s run %d started %s\n", p.name, p.starts, time.Now().Format(time.StampMilli))
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stderr = logf
	// Never outlive the test process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout *bufio.Scanner
	if p.ready != "" {
		out, err := cmd.StdoutPipe()
		if err != nil {
			logf.Close()
			return err
		}
		stdout = bufio.NewScanner(out)
	} else {
		cmd.Stdout = logf
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("%s: start: %w", p.name, err)
	}
	r := &run{cmd: cmd, done: make(chan struct{})}
	p.cur = r
	if stdout != nil {
		line, ok := readLine(stdout, 60*time.Second)
		if !ok || line != p.ready {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			logf.Close()
			close(r.done)
			return fmt.Errorf("%s: not ready within 60s (got %q)\n%s", p.name, line, p.tail(20))
		}
		go func() {
			for stdout.Scan() {
				fmt.Fprintln(logf, stdout.Text())
			}
		}()
	}
	go func() {
		r.err = cmd.Wait()
		fmt.Fprintf(logf, "=== faults: %s run %d ended %s: %v\n", p.name, p.starts, time.Now().Format(time.StampMilli), r.err)
		logf.Close()
		p.mu.Lock()
		crashed := !r.killed && !p.closed
		if crashed {
			p.crashes = append(p.crashes, fmt.Sprint(r.err))
		}
		restart := crashed && p.supervise
		p.mu.Unlock()
		close(r.done)
		if crashed {
			p.t.Logf("faults: %s exited on its own (%v); last lines:\n%s", p.name, r.err, p.tail(15))
		}
		if restart {
			time.Sleep(time.Second)
			if err := p.start(); err != nil && !errors.Is(err, errClosed) {
				p.t.Logf("faults: restarting %s: %v", p.name, err)
			}
		}
	}()
	return nil
}

// kill sends SIGKILL to the current run and waits until it is gone.
func (p *proc) kill() { p.signal(syscall.SIGKILL) }

// signal sends sig to the current run, marked as the test's doing, and
// waits up to a minute for it to end.
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	r := p.cur
	if r != nil {
		r.killed = true
		_ = r.cmd.Process.Signal(sig)
	}
	p.mu.Unlock()
	if r == nil {
		return
	}
	select {
	case <-r.done:
	case <-time.After(time.Minute):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return 0
	}
	return p.cur.cmd.Process.Pid
}

// crashed returns how the runs that ended on their own ended.
func (p *proc) crashed() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.crashes...)
}

func (p *proc) close() {
	p.mu.Lock()
	p.closed = true
	r := p.cur
	p.mu.Unlock()
	if r != nil {
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// tail returns the last n lines of the proc's log.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 400 {
			lines[i] = l[:400] + "…"
		}
	}
	return "    " + strings.Join(lines, "\n    ")
}
