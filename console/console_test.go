package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/api"
	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

// client is a browser stand-in: a cookie jar, no redirects followed.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newClient(t *testing.T, e *env) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: e.srv.URL, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (c *client) do(method, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	require.NoError(c.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp, string(b)
}

func (c *client) get(path string) (int, string) {
	c.t.Helper()
	resp, body := c.do(http.MethodGet, path, nil, nil)
	return resp.StatusCode, body
}

func (c *client) signIn(token string) {
	c.t.Helper()
	resp, body := c.do(http.MethodPost, "/ui/signin", url.Values{"token": {token}}, nil)
	require.Equal(c.t, http.StatusSeeOther, resp.StatusCode, body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func TestConsole(t *testing.T) {
	t.Parallel()
	tokens := api.NewTokens(map[string]string{tokenOperator: tracking.Operator, tokenM1: "m1", tokenM2: "m2"})
	e := newEnv(t, tokens)
	e.deliver("m1", "types-0001", catalog.ProductType, productType("shirt"))
	e.waitCounts("m1", "types-0001", func(c tracking.Counts) bool { return c.Imported == 1 })
	var recs []string
	for i := range 25 {
		recs = append(recs, product(fmt.Sprintf("p%02d", i), "shirt"))
	}
	recs = append(recs, invalid("bad-1"), invalid("bad-2"), product("waits-1", "shirt", "cat-missing"), product("waits-2", "shirt", "cat-missing"))
	e.deliver("m1", "products-0001", catalog.Product, recs...)
	e.deliver("m2", "other-0002", catalog.ProductType, productType("m2-secret-type"))
	e.waitCounts("m1", "products-0001", func(c tracking.Counts) bool {
		return c.Imported == 25 && c.ValidationFailed == 2 && c.Unresolved == 2
	})
	e.waitCounts("m2", "other-0002", func(c tracking.Counts) bool { return c.Imported == 1 })

	t.Run("sign in", func(t *testing.T) {
		c := newClient(t, e)
		resp, _ := c.do(http.MethodGet, "/ui/deliveries", nil, nil)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/ui/signin", resp.Header.Get("Location"))
		resp, body := c.do(http.MethodPost, "/ui/signin", url.Values{"token": {"not-a-known-token-at-all"}}, nil)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Contains(t, body, "not known")
		require.NotContains(t, body, "not-a-known-token-at-all", "the page does not echo the token")
		resp, _ = c.do(http.MethodPost, "/ui/signin", url.Values{"token": {tokenM1}}, map[string]string{"Origin": "https://evil.example"})
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "a sign-in from another site")

		resp, _ = c.do(http.MethodPost, "/ui/signin", url.Values{"token": {tokenM1}}, nil)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/ui/deliveries", resp.Header.Get("Location"))
		require.NotContains(t, resp.Header.Get("Location"), tokenM1)
		var ck *http.Cookie
		for _, k := range resp.Cookies() {
			if k.Name == "importd_console" {
				ck = k
			}
		}
		require.NotNil(t, ck)
		require.True(t, ck.HttpOnly)
		require.Equal(t, http.SameSiteStrictMode, ck.SameSite)
		require.Equal(t, "/ui/", ck.Path)

		code, body := c.get("/ui/deliveries")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "products-0001")
		require.NotContains(t, body, tokenM1)

		resp, _ = c.do(http.MethodPost, "/ui/signout", url.Values{}, nil)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		resp, _ = c.do(http.MethodGet, "/ui/deliveries", nil, nil)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, "signed out")
		resp, _ = c.do(http.MethodGet, "/ui/deliveries", nil, map[string]string{"HX-Request": "true"})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Equal(t, "/ui/signin", resp.Header.Get("HX-Redirect"), "a live poll after sign-out goes to the sign-in page")
	})

	t.Run("a merchant sees only its own", func(t *testing.T) {
		c := newClient(t, e)
		c.signIn(tokenM1)
		code, body := c.get("/ui/deliveries")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "products-0001")
		require.NotContains(t, body, "other-0002")
		code, body = c.get("/ui/deliveries?merchant=m2")
		require.Equal(t, http.StatusOK, code)
		require.NotContains(t, body, "other-0002", "a merchant's filter cannot widen its scope")
		code, _ = c.get("/ui/deliveries/other-0002")
		require.Equal(t, http.StatusNotFound, code)
		code, _ = c.get("/ui/deliveries/other-0002?merchant=m2")
		require.Equal(t, http.StatusNotFound, code)
		code, _ = c.get("/ui/deliveries/other-0002/operations?merchant=m2")
		require.Equal(t, http.StatusNotFound, code)
		code, _ = c.get("/ui/deliveries/other-0002/errors.csv")
		require.Equal(t, http.StatusNotFound, code)
		code, _ = c.get("/ui/deliveries/other-0002/warnings.csv")
		require.Equal(t, http.StatusNotFound, code)
		code, _ = c.get("/ui/deliveries/other-0002/inputs?merchant=m2")
		require.Equal(t, http.StatusNotFound, code)
		d, err := e.store.DeliveryFind(t.Context(), "m2", "other-0002")
		require.NoError(t, err)
		page, err := api.NewServer(e.store, api.ServerConfig{}, nil).Console().Operations(t.Context(), &d, api.OperationFilter{}, "", 10)
		require.NoError(t, err)
		code, body = c.get("/ui/operations/" + page.Items[0].ID.String())
		require.Equal(t, http.StatusNotFound, code)
		require.NotContains(t, body, "m2-secret-type")
		code, _ = c.get("/ui/overview")
		require.Equal(t, http.StatusOK, code)
	})

	t.Run("a delivery", func(t *testing.T) {
		c := newClient(t, e)
		c.signIn(tokenOperator)
		code, body := c.get("/ui/deliveries?merchant=m1")
		require.Equal(t, http.StatusOK, code)
		require.NotContains(t, body, "other-0002")
		code, body = c.get("/ui/deliveries/products-0001?merchant=m1")
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, "27 / 29")
		require.Contains(t, body, "cat-missing")
		require.Regexp(t, `<td>category</td><td>cat-missing</td><td class="n">2</td>`, body, "the missing reference and how many wait on it")
		require.Contains(t, body, "errors.csv")
		require.Contains(t, body, "in_progress")
		require.Regexp(t, `data-state="validationFailed".*<td class="n">2</td>`, body)
		require.NotContains(t, body, "Warnings by code", "no section without warnings")
		_, err := e.store.Pool().Exec(context.Background(), `UPDATE operations SET warnings =
			'[{"type":"DATA_ERROR","code":"DISCARDED","field":"attributes.0","description":"unknown attribute"}]' WHERE receipt_id = 'products-0001' AND seq = 0`)
		require.NoError(t, err)
		_, body = c.get("/ui/deliveries/products-0001?merchant=m1")
		require.Contains(t, body, "Warnings by code")
		require.Regexp(t, `<td>DISCARDED</td><td>DATA_ERROR</td><td class="n">1</td>.*<code>attributes.0</code>: unknown attribute`, body)
		require.Contains(t, body, `href="/ui/deliveries/products-0001/warnings.csv?merchant=m1"`)
		resp, csv := c.do(http.MethodGet, "/ui/deliveries/products-0001/warnings.csv?merchant=m1", nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, csv)
		require.Contains(t, csv, "DISCARDED")
		require.Contains(t, csv, "unknown attribute")

		require.Contains(t, body, `<td id="inputs-state" data-inputs="held">held in JetStream until the delivery settles, then kept</td>`)
		require.Contains(t, body, `href="/ui/deliveries/products-0001/inputs?merchant=m1"`)
		resp, raw := c.do(http.MethodGet, "/ui/deliveries/products-0001/inputs?merchant=m1", nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, raw)
		require.Equal(t, "application/x-ndjson", resp.Header.Get("Content-Type"))
		require.Equal(t, strings.Join(recs, "\n"), raw, "the body as published")

		resp, csv = c.do(http.MethodGet, "/ui/deliveries/products-0001/errors.csv?merchant=m1", nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, csv)
		require.Equal(t, 3, strings.Count(csv, "\n")-strings.Count(csv, "\n\n"), "a header and a row per error: %s", csv)
		require.Contains(t, csv, "bad-1")

		code, body = c.get("/ui/deliveries/products-0001/operations?merchant=m1&state=validationFailed")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "bad-1")
		require.NotContains(t, body, `data-key="p00"`)
		code, body = c.get("/ui/deliveries/products-0001/operations?merchant=m1")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, `rel="next"`, "29 operations, 20 a page")
		next := regexp.MustCompile(`rel="next" href="([^"]+)"`).FindStringSubmatch(body)
		require.Len(t, next, 2)
		code, body = c.get(strings.ReplaceAll(next[1], "&amp;", "&"))
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "waits-2")
		require.NotContains(t, body, `data-key="p00"`)

		id := regexp.MustCompile(`<a href="/ui/operations/([0-9a-f-]+)">bad-1</a>`).FindStringSubmatch(body)
		if id == nil {
			_, body = c.get("/ui/deliveries/products-0001/operations?merchant=m1&key=bad-1")
			id = regexp.MustCompile(`<a href="/ui/operations/([0-9a-f-]+)">bad-1</a>`).FindStringSubmatch(body)
		}
		require.Len(t, id, 2)
		code, body = c.get("/ui/operations/" + id[1])
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "validationFailed")
		require.Contains(t, body, `id="timeline"`)
		require.GreaterOrEqual(t, strings.Count(body, "<time "), 2, "received and failed")
	})

	t.Run("retry asks first", func(t *testing.T) {
		c := newClient(t, e)
		c.signIn(tokenM1)
		code, body := c.get("/ui/deliveries/types-0001/retry")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "Retry rejected operations")
		m := csrfField.FindStringSubmatch(body)
		require.Len(t, m, 2)
		resp, body := c.do(http.MethodPost, "/ui/deliveries/types-0001/retry", url.Values{"csrf": {m[1]}}, nil)
		require.Equal(t, http.StatusConflict, resp.StatusCode, "nothing rejected: the API's answer, as a page")
		require.Contains(t, body, `class="problem"`)
		code, body = c.get("/ui/deliveries/types-0001")
		require.Equal(t, http.StatusOK, code)
		require.NotContains(t, body, "Retry rejected…", "offered only where operations are rejected")
		code, _ = c.get("/ui/deliveries/types-0001/delete")
		require.Equal(t, http.StatusNotFound, code, "no such action")
	})

	t.Run("retry sends rejected operations back", func(t *testing.T) {
		e.failing.Store(true)
		e.deliver("m1", "failing-0001", catalog.Product, product("f1", "shirt"), product("f2", "shirt"), product("f3", "shirt"))
		e.waitCounts("m1", "failing-0001", func(c tracking.Counts) bool { return c.Rejected == 3 })
		e.failing.Store(false)
		c := newClient(t, e)
		c.signIn(tokenM1)
		code, body := c.get("/ui/deliveries/failing-0001")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "Retry rejected…")
		require.Regexp(t, `data-state="rejected".*<td>SYSTEM_ERROR</td><td class="n">3</td>`, body)
		code, body = c.get("/ui/deliveries/failing-0001/retry")
		require.Equal(t, http.StatusOK, code)
		m := csrfField.FindStringSubmatch(body)
		require.Len(t, m, 2)
		require.Equal(t, int64(3), e.counts("m1", "failing-0001").Rejected, "nothing happens before the confirmation")
		resp, body := c.do(http.MethodPost, "/ui/deliveries/failing-0001/retry", url.Values{"csrf": {m[1]}}, nil)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
		require.Equal(t, "/ui/deliveries/failing-0001?done=retried&n=3", resp.Header.Get("Location"))
		_, body = c.get(resp.Header.Get("Location"))
		require.Contains(t, body, "3 rejected operation(s) sent back to processing.")
		e.waitCounts("m1", "failing-0001", func(c tracking.Counts) bool { return c.Imported == 3 })
	})

	t.Run("a delivery's callback", func(t *testing.T) {
		e.deliverWith("m1", "hooked-0001", catalog.ProductType, map[string]string{bus.HeaderCallbackURL: "https://hooks.example.com/importd"},
			productType("hooked-type"))
		e.waitCounts("m1", "hooked-0001", func(c tracking.Counts) bool { return c.Imported == 1 })
		c := newClient(t, e)
		c.signIn(tokenM1)
		code, body := c.get("/ui/deliveries/hooked-0001")
		require.Equal(t, http.StatusOK, code)
		// No callback worker runs here: the call waits, as the API says.
		require.Regexp(t, `<th>Callback</th><td>hooks.example.com: \w+`, body)
		_, body = c.get("/ui/deliveries/types-0001")
		require.NotContains(t, body, "<th>Callback</th>", "a delivery without a callback URL shows none")
	})

	t.Run("cancel needs the form token and a confirmation", func(t *testing.T) {
		c := newClient(t, e)
		c.signIn(tokenM1)
		code, body := c.get("/ui/deliveries/products-0001/cancel")
		require.Equal(t, http.StatusOK, code)
		m := csrfField.FindStringSubmatch(body)
		require.Len(t, m, 2)
		resp, _ := c.do(http.MethodPost, "/ui/deliveries/products-0001/cancel", url.Values{}, nil)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "no form token")
		resp, _ = c.do(http.MethodPost, "/ui/deliveries/products-0001/cancel", url.Values{"csrf": {m[1]}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "from another site")
		other := newClient(t, e)
		other.signIn(tokenM2)
		resp, _ = other.do(http.MethodPost, "/ui/deliveries/products-0001/cancel", url.Values{"csrf": {m[1]}}, nil)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "another session's form token")
		require.Equal(t, int64(2), e.counts("m1", "products-0001").Unresolved, "nothing canceled yet")

		resp, _ = c.do(http.MethodPost, "/ui/deliveries/products-0001/cancel", url.Values{"csrf": {m[1]}}, nil)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/ui/deliveries/products-0001?done=canceled", resp.Header.Get("Location"))
		require.Equal(t, int64(2), e.counts("m1", "products-0001").Canceled)
		code, body = c.get(resp.Header.Get("Location"))
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "The delivery is canceled")
		require.NotContains(t, body, "Cancel…", "nothing left to cancel")
		resp, body = c.do(http.MethodPost, "/ui/deliveries/products-0001/cancel", url.Values{"csrf": {m[1]}}, nil)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, "again: idempotent, as the API's: %s", body)
		resp, body = c.do(http.MethodPost, "/ui/deliveries/types-0001/cancel", url.Values{"csrf": {m[1]}}, nil)
		require.Equal(t, http.StatusConflict, resp.StatusCode, "a completed delivery: %s", body)
	})

	t.Run("overview", func(t *testing.T) {
		c := newClient(t, e)
		c.signIn(tokenOperator)
		require.Eventually(t, func() bool {
			_, body := c.get("/ui/overview")
			return strings.Contains(body, "<polyline")
		}, 10*time.Second, 100*time.Millisecond, "the charts draw once there are two samples")
		_, body := c.get("/ui/overview")
		require.Contains(t, body, "Records per second")
		require.Contains(t, body, "Consumer lag")
		m := newClient(t, e)
		m.signIn(tokenM2)
		_, body = m.get("/ui/overview")
		require.NotContains(t, body, "<svg viewBox", "throughput is of every merchant's: not a merchant's to see")
		require.NotContains(t, body, ">m1<")
	})
}

func TestConsoleDevMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver("m1", "dev-00001", catalog.ProductType, productType("dev-type"))
	e.waitCounts("m1", "dev-00001", func(c tracking.Counts) bool { return c.Imported == 1 })
	c := newClient(t, e)
	resp, _ := c.do(http.MethodGet, "/ui/signin", nil, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "no sign-in without tokens")
	code, body := c.get("/ui/deliveries")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "dev-00001")
	require.Contains(t, body, "dev mode")
	code, body = c.get("/ui/static/htmx.min.js")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "htmx")
}
