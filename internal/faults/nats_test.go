package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
)

// natsServer starts a NATS server in a child process (this test binary,
// re-executed: see natsChild) listening on a fixed loopback port with its
// JetStream store in dir, so that it can be killed and started again on
// the same port and store.
func natsServer(t *testing.T, name string, port int, dir string, cluster string, routes []string) *proc {
	t.Helper()
	env := []string{
		envNATSChild + "=1",
		envNATSListen + fmt.Sprintf("=127.0.0.1:%d", port),
		envNATSStore + "=" + dir,
		envNATSName + "=" + name,
	}
	if cluster != "" {
		env = append(env, envNATSCluster+"="+cluster, envNATSRoutes+"="+strings.Join(routes, ","))
	}
	p := newProc(t, name, []string{os.Args[0], "-test.run=^$"}, env, filepath.Join(t.TempDir(), name+".log"))
	p.ready = "ready"
	return p
}

// TestNATSRestart kills the NATS server (a separate process, its JetStream
// store on disk) with SIGKILL mid-run, -faults.kills times, and starts it
// again on the same port and store after a pause: the roles reconnect and
// finish the work.
func TestNATSRestart(t *testing.T) {
	port := freePort(t)
	store := t.TempDir()
	// The server must run before the harness connects.
	ns := natsServer(t, "nats", port, store, "", nil)
	require.NoError(t, ns.start())
	h := newHarness(t, harnessConfig{DBURL: testenv.DBURL(t), NATSURL: fmt.Sprintf("nats://127.0.0.1:%d", port)})
	h.servers = append(h.servers, ns)
	w := newWorkload("natsrestart", *flagRecords)
	h.pipeline()
	h.driveSpread(w, *flagKills, func(ctx context.Context, _ int, p progress) {
		ns.kill()
		pause := time.Duration(500+h.rng.IntN(2500)) * time.Millisecond
		h.fault("kill -9 of the NATS server at %d imported, restart in %s", p.imported, pause.Round(time.Millisecond))
		time.Sleep(pause)
		require.NoError(t, ns.start(), "restarting NATS on port %d", port)
	})
	checkStreams(t, h)
	h.verify(w, fmt.Sprintf("%d kill -9 + restart of NATS", h.nfaults.Load()))
}

// checkStreams checks that the work queue is empty at the end: nothing was
// left unacknowledged or lost in flight.
func checkStreams(t *testing.T, h *harness) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var st *jetstream.StreamInfo
	require.NoError(t, retry(ctx, func() error {
		s, err := h.js.Stream(ctx, bus.StreamWork)
		if err != nil {
			return err
		}
		st, err = s.Info(ctx)
		return err
	}))
	t.Logf("faults: %s at the end: %d messages (work queue), %d published in all", bus.StreamWork, st.State.Msgs, st.State.LastSeq)
}

// TestNATSCluster runs the pipeline on a three-node JetStream cluster on
// loopback (each node a child process) with every stream replicated three
// times, and kills the node leading IMPORT_WORK mid-run (not restarted):
// the other two keep the quorum and the pipeline finishes.
func TestNATSCluster(t *testing.T) {
	const nodes = 3
	ports, cports := make([]int, nodes), make([]int, nodes)
	var routes, urls []string
	for i := range nodes {
		ports[i], cports[i] = freePort(t), freePort(t)
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", cports[i]))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	servers := map[string]*proc{}
	var all []*proc
	for i := range nodes {
		name := fmt.Sprintf("n%d", i+1)
		p := natsServer(t, name, ports[i], t.TempDir(), fmt.Sprintf("127.0.0.1:%d", cports[i]), routes)
		servers[name] = p
		all = append(all, p)
	}
	// Start them together: each waits for the others' routes.
	errs := make(chan error, nodes)
	for _, p := range all {
		go func() { errs <- p.start() }()
	}
	for range nodes {
		require.NoError(t, <-errs)
	}
	h := newHarness(t, harnessConfig{DBURL: testenv.DBURL(t), NATSURL: strings.Join(urls, ","), Replicas: 3})
	h.servers = append(h.servers, all...)
	w := newWorkload("cluster", *flagRecords)
	h.pipeline()
	at := 0.2 + 0.4*h.rng.Float64()
	killed := false
	valid, _ := w.expected()
	h.drive(w, func(ctx context.Context, p progress) {
		if killed || float64(p.imported)/float64(valid) < at {
			return
		}
		killed = true
		ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		s, err := h.js.Stream(ictx, bus.StreamWork)
		require.NoError(t, err)
		info, err := s.Info(ictx)
		require.NoError(t, err)
		require.NotNil(t, info.Cluster)
		require.Len(t, info.Cluster.Replicas, nodes-1, "%s has three replicas", bus.StreamWork)
		leader := servers[info.Cluster.Leader]
		require.NotNil(t, leader, "leader %q", info.Cluster.Leader)
		leader.kill()
		h.fault("kill -9 of cluster node %s, leader of %s, at %d imported (not restarted)", info.Cluster.Leader, bus.StreamWork, p.imported)
	})
	checkStreams(t, h)
	h.verify(w, fmt.Sprintf("%d kill -9 of a node of a 3-node cluster, R3", h.nfaults.Load()))
}
