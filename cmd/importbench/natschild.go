package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/importd/importd/internal/bus"
)

// The NATS server of a run is embedded in a child process of importbench
// (importbench started again with natsChildEnv set), not in importbench
// itself: its CPU and memory are then its own, and the samplers of the
// query service do not share a process, and its scheduler, with the
// busiest server of the run.
const (
	natsChildEnv      = "IMPORTBENCH_NATS_STORE" // the child's JetStream store directory
	natsChildPProfEnv = "IMPORTBENCH_NATS_PPROF" // where the child writes its CPU profile, if set
)

// natsChildMain runs the child: it starts the server, prints its client URL
// on a line of its own, and serves until SIGTERM or until its parent closes
// its standard input.
func natsChildMain(store string) int {
	if path := os.Getenv(natsChildPProfEnv); path != "" {
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	ns, err := bus.StartEmbedded(bus.EmbeddedConfig{Listen: "127.0.0.1:-1", StoreDir: store})
	if err != nil {
		fmt.Fprintln(os.Stderr, "importbench nats:", err)
		return 1
	}
	fmt.Println(ns.ClientURL())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		// The parent died without stopping us.
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		stop()
	}()
	<-ctx.Done()
	ns.Shutdown()
	ns.WaitForShutdown()
	return 0
}

// natsChild is a running NATS child process.
type natsChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser // held open: the child stops when it closes
	url   string
	done  chan struct{} // closed when it has exited
}

// startNATSChild starts the child with its store in dir (and, when pprof is
// set, its CPU profile written there) and waits for its URL.
func startNATSChild(dir, pprofPath string) (*natsChild, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), natsChildEnv+"="+dir)
	if pprofPath != "" {
		cmd.Env = append(cmd.Env, natsChildPProfEnv+"="+pprofPath)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the NATS server process: %w", err)
	}
	c := &natsChild{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		for sc.Scan() {
		}
		_ = cmd.Wait()
		close(c.done)
	}()
	select {
	case line, ok := <-lines:
		if !ok || !strings.HasPrefix(line, "nats://") {
			_ = cmd.Process.Kill()
			return nil, errors.New("the NATS server process did not start (see its error above)")
		}
		c.url = line
		return c, nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return nil, errors.New("the NATS server process did not start within 30s")
	}
}

func (c *natsChild) pid() int { return c.cmd.Process.Pid }

// stop stops the child with SIGTERM (SIGKILL after 30s) and waits for it.
func (c *natsChild) stop() { terminate(c.cmd.Process, c.done) }
