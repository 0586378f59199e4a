package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"time"
)

// startProfiles, with -pprof, records CPU profiles for the main load: this
// process's own (the generator, the publisher, the samplers) and every
// role's, fetched from its debug endpoint in consecutive windows of
// profileWindow until stop is called. The files go to the -pprof directory
// as <name>-<n>.pprof (bench.pprof for this process; the NATS process
// writes nats.pprof, from its start to its end); go tool pprof merges
// several files given together.
func (b *bench) startProfiles(ctx context.Context) (stop func(), err error) {
	dir := b.o.PProf
	if dir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, "bench.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, p := range b.procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; pctx.Err() == nil; n++ {
				if err := fetchProfile(pctx, p, filepath.Join(dir, fmt.Sprintf("%s-%d.pprof", p.name, n))); err != nil && pctx.Err() == nil {
					b.logf("profile of %s: %v", p.name, err)
					return
				}
			}
		}()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
			cancel()
			wg.Wait()
			b.logf("CPU profiles in %s (go tool pprof -top %s/import-0-*.pprof)", dir, dir)
		})
	}, nil
}

// profileWindow is the length of one fetched profile: a window cut short by
// the end of the load is lost, so it is short.
const profileWindow = 10 * time.Second

func fetchProfile(ctx context.Context, p *proc, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.debug, int(profileWindow/time.Second)), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		out.Close()
		os.Remove(path)
		return err
	}
	return out.Close()
}
