package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/api"
	"github.com/importd/importd/catalog"
	"github.com/importd/importd/tracking"
)

// chromium is Debian's chromium, which .ci/run installs; no test downloads
// a browser of its own.
const chromium = "/usr/bin/chromium"

// browser starts a headless chromium with a fresh profile and returns a
// tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := exec.LookPath(chromium); err != nil {
		if os.Getenv("IMPORTD_REQUIRE_CHROMIUM") != "" {
			t.Fatalf("IMPORTD_REQUIRE_CHROMIUM is set but %s is missing: apt-get install chromium", chromium)
		}
		t.Skipf("%s not installed (apt-get install chromium); set IMPORTD_REQUIRE_CHROMIUM=1 to fail instead", chromium)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1366, 900),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		// Without these the browser reaches for the network on its own
		// (updates, sync, QUIC probes), which CI machines refuse.
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc()
	})
	return ctx
}

// shooter saves full-page screenshots to $IMPORTD_SCREENSHOTS when set
// (docs/screenshots is made this way), and does nothing otherwise.
func shooter(t *testing.T, ctx context.Context) func(name string) {
	dir := os.Getenv("IMPORTD_SCREENSHOTS")
	return func(name string) {
		if dir == "" {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
	}
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err)
	return s
}

// waitFor polls a JavaScript condition in the page.
func waitFor(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(time.Minute), chromedp.WithPollingInterval(100*time.Millisecond))
}

// TestBrowser drives the console as a person would, in headless chromium:
// sign in, find a delivery just published, see its counts reach the end
// state live, open a failed operation's timeline, cancel a running
// delivery, and see that a merchant's token shows no other merchant's
// delivery.
func TestBrowser(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	shot := shooter(t, ctx)
	e := newEnv(t, api.NewTokens(map[string]string{tokenOperator: tracking.Operator, tokenM1: "m1", tokenM2: "m2"}))
	e.deliver("m1", "types-0001", catalog.ProductType, productType("shirt"))
	e.deliver("m2", "other-0002", catalog.ProductType, productType("m2-type"))
	e.waitCounts("m1", "types-0001", func(c tracking.Counts) bool { return c.Imported == 1 })
	base := e.srv.URL

	// Signed out, the console sends one to sign in.
	do(t, ctx, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	shot("signin")
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#token"), tokenOperator), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-receipt="types-0001"]`)))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Equal(t, base+"/ui/deliveries", loc, "the token is in no URL")

	// A delivery published now appears without a reload (the list polls).
	var recs []string
	for i := range 40 {
		recs = append(recs, product(fmt.Sprintf("p%02d", i), "shirt"))
	}
	recs = append(recs, invalid("bad-1"), invalid("bad-2"))
	e.deliver("m1", "products-0001", catalog.Product, recs...)
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS(`tr[data-receipt="products-0001"]`)))
	do(t, ctx, waitFor(`document.querySelector('tr[data-receipt="products-0001"] .counts').textContent.trim() === '42 / 42'`))
	shot("deliveries")

	// Its page: the counts reach the end state.
	do(t, ctx, chromedp.Click(chromedp.CSS(`tr[data-receipt="products-0001"] a`)),
		chromedp.WaitVisible(chromedp.CSS("#done-count")),
		waitFor(`document.querySelector('#job-status').textContent === 'completed'`))
	require.Equal(t, "42 / 42", text(t, ctx, "#done-count"))
	require.Equal(t, "CompletedWithErrors", text(t, ctx, "#cdon-status"))
	shot("delivery")

	// A failed operation's timeline, reached by links only.
	do(t, ctx, chromedp.Click(chromedp.CSS(`tr[data-state="validationFailed"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-key="bad-1"]`)))
	shot("operations")
	do(t, ctx, chromedp.Click(chromedp.CSS(`tr[data-key="bad-1"] a`)), chromedp.WaitVisible(chromedp.CSS("#timeline")))
	require.Equal(t, "validationFailed", text(t, ctx, "#op-state"))
	require.Contains(t, text(t, ctx, "#timeline"), "required field is missing")
	shot("operation")

	// Cancel a running delivery: products wait for a category that never
	// comes.
	var waiting []string
	for i := range 10 {
		waiting = append(waiting, product(fmt.Sprintf("w%02d", i), "shirt", "cat-missing"))
	}
	e.deliver("m1", "running-0001", catalog.Product, waiting...)
	e.waitCounts("m1", "running-0001", func(c tracking.Counts) bool { return c.Unresolved == 10 })
	do(t, ctx, chromedp.Navigate(base+"/ui/deliveries/running-0001?merchant=m1"), chromedp.WaitVisible(chromedp.CSS("#job-status")))
	require.Equal(t, "in_progress", text(t, ctx, "#job-status"))
	require.Contains(t, text(t, ctx, "#missing-h + table"), "cat-missing")
	shot("delivery-running")
	do(t, ctx, chromedp.Click(chromedp.CSS(`a.danger`)), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	shot("confirm-cancel")
	require.Equal(t, int64(10), e.counts("m1", "running-0001").Unresolved, "nothing happens before the confirmation")
	do(t, ctx, chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	require.Equal(t, "interrupted", text(t, ctx, "#job-status"))
	require.Equal(t, int64(10), e.counts("m1", "running-0001").Canceled)

	// The overview charts the last hour.
	do(t, ctx, chromedp.Navigate(base+"/ui/overview"), waitFor(`document.querySelectorAll('polyline').length > 0`))
	shot("overview")

	// A merchant's token: its own deliveries only, whatever it asks.
	do(t, ctx, chromedp.Click(chromedp.CSS(`header form button`)), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), tokenM2), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-receipt="other-0002"]`)))
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('tr[data-receipt]').length`))
	require.NoError(t, err)
	require.Equal(t, 1, n, "m2 sees its one delivery")
	do(t, ctx, chromedp.Navigate(base+"/ui/deliveries?merchant=m1"), chromedp.WaitVisible(chromedp.CSS("table.list")))
	n, err = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('tr[data-receipt]:not([data-receipt="other-0002"])').length`))
	require.NoError(t, err)
	require.Zero(t, n, "asking for m1's shows none of them")
	do(t, ctx, chromedp.Navigate(base+"/ui/deliveries/products-0001?merchant=m1"), chromedp.WaitVisible(chromedp.CSS("h1")))
	require.Equal(t, "Not found", text(t, ctx, "h1"))
}
