package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cgroupCPURoot is where the cgroup v1 cpu controller is mounted.
const cgroupCPURoot = "/sys/fs/cgroup/cpu"

// cpuPriority keeps the query service, its PostgreSQL backends and
// importbench itself (whose samplers stand for clients on other machines)
// in a cgroup of their own with factor times the default CPU shares, for
// the length of the load: what the query service's latency is when a
// deployment reserves CPU for it, on a machine whose cores the workers and
// PostgreSQL saturate. Linux, the cgroup v1 cpu controller, and root.
type cpuPriority struct {
	b      *bench
	dir    string
	shares int

	mu    sync.Mutex
	from  map[int]string // pid → the cgroup.procs it was moved from
	moved int            // processes moved, over the load
}

// startCPUPriority creates the cgroup and moves the processes into it.
func startCPUPriority(b *bench, factor int) (*cpuPriority, error) {
	if _, err := os.Stat(filepath.Join(cgroupCPURoot, "cpu.shares")); err != nil {
		return nil, fmt.Errorf("-query-cpu-priority needs the cgroup v1 cpu controller at %s: %w", cgroupCPURoot, err)
	}
	p := &cpuPriority{b: b, dir: filepath.Join(cgroupCPURoot, "importbench-"+b.runID), shares: 1024 * factor, from: map[int]string{}}
	if err := os.Mkdir(p.dir, 0o755); err != nil {
		return nil, fmt.Errorf("-query-cpu-priority: create a cgroup (root only): %w", err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, "cpu.shares"), []byte(strconv.Itoa(p.shares)), 0o644); err != nil {
		p.stop()
		return nil, fmt.Errorf("-query-cpu-priority: %w", err)
	}
	if err := p.move(os.Getpid()); err != nil {
		p.stop()
		return nil, err
	}
	if err := p.move(b.query.cmd.Process.Pid); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// run moves the query service's PostgreSQL backends into the cgroup as they
// appear, until ctx ends.
func (p *cpuPriority) run(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		pids, _ := backendPIDs(ctx, p.b.pool, `WHERE datname = current_database() AND application_name = 'importd query'`)
		for _, pid := range pids {
			_ = p.move(pid) // a backend may have ended meanwhile
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// move puts pid into the cgroup unless it is there already.
func (p *cpuPriority) move(pid int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.from[pid]; ok {
		return nil
	}
	from, err := cpuCgroupOf(pid)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(p.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("-query-cpu-priority: move process %d: %w", pid, err)
	}
	p.from[pid] = filepath.Join(cgroupCPURoot, from, "cgroup.procs")
	p.moved++
	return nil
}

// stop moves every process back where it was and removes the cgroup.
func (p *cpuPriority) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pid, procs := range p.from {
		_ = os.WriteFile(procs, []byte(strconv.Itoa(pid)), 0o644) // ESRCH when it has ended
	}
	p.from = map[int]string{}
	// A process that has just ended may keep the cgroup busy a moment.
	for i := 0; i < 50; i++ {
		if err := os.Remove(p.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.b.logf("could not remove the cgroup %s", p.dir)
}

// cpuCgroupOf returns the path of pid's cgroup in the v1 cpu hierarchy.
func cpuCgroupOf(pid int) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "cpu" {
				return parts[2], nil
			}
		}
	}
	return "", fmt.Errorf("process %d is in no cgroup of the cpu controller", pid)
}
