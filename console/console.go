// Package console is the operator's web console of the query service,
// served at /ui/: the deliveries, a delivery's progress, errors and
// operations, an operation's history, and the pipeline's throughput and
// lag over the last hour. Its pages are server-rendered html/template with
// htmx (vendored under static/) polling fragments for live updates, and
// inline SVG charts: everything is embedded in the binary, nothing is
// fetched from a network at run time and nothing needs building.
//
// It reads and acts through api.Console, the functions and scope rules of
// the /v1 API. A token is signed in with a form and kept in an HttpOnly,
// SameSite=Strict cookie; it never appears in a URL, a page or a log. The
// forms that change something carry a token derived from the session's
// and are refused from another origin.
package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/importd/importd/api"
	"github.com/importd/importd/tracking"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the console is mounted.
const Prefix = "/ui/"

// cookieName holds the signed-in token.
const cookieName = "importd_console"

// Config configures the console.
type Config struct {
	// SampleEvery is how often the overview samples the pipeline's totals
	// and consumer lag. Defaults to 10s.
	SampleEvery time.Duration
	// Window is how far back the overview's charts go. Defaults to 1h.
	Window time.Duration
	// Refresh is how often live pages poll for their fragments. Defaults
	// to 2s.
	Refresh time.Duration
	// PageSize is how many rows a list page shows. Defaults to 50.
	PageSize int
	// SessionTTL is how long a sign-in lasts. Defaults to 12h.
	SessionTTL time.Duration
}

// Console serves the web console.
type Console struct {
	cfg     Config
	reads   *api.Console
	logger  *zap.Logger
	mux     *http.ServeMux
	pages   map[string]*template.Template
	sampler *sampler
	// devKey derives the form token in dev mode, where there is no
	// session token to derive it from.
	devKey []byte
}

// New returns the console reading through reads.
func New(cfg Config, reads *api.Console, logger *zap.Logger) (*Console, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	if reads == nil {
		return nil, errors.New("console: no api.Console to read through")
	}
	if cfg.SampleEvery == 0 {
		cfg.SampleEvery = 10 * time.Second
	}
	if cfg.Window == 0 {
		cfg.Window = time.Hour
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = 2 * time.Second
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 50
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	switch {
	case cfg.SampleEvery < 0 || cfg.Window < cfg.SampleEvery:
		return nil, fmt.Errorf("console: SampleEvery %s must be positive and within Window %s", cfg.SampleEvery, cfg.Window)
	case cfg.Window/cfg.SampleEvery > 100_000:
		return nil, fmt.Errorf("console: Window/SampleEvery is over 100000 samples")
	case cfg.PageSize < 1 || cfg.PageSize > api.MaxPageLimit:
		return nil, fmt.Errorf("console: PageSize %d not in 1..%d", cfg.PageSize, api.MaxPageLimit)
	case cfg.Refresh < 0 || cfg.SessionTTL < 0:
		return nil, errors.New("console: Refresh and SessionTTL must be positive")
	}
	c := &Console{cfg: cfg, reads: reads, logger: logger.Named("console"), mux: http.NewServeMux(), devKey: make([]byte, 32)}
	rand.Read(c.devKey)
	c.sampler = newSampler(reads, reads.JetStream(), cfg.SampleEvery, cfg.Window, c.logger)
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c.pages = pages
	static, _ := fs.Sub(staticFS, "static")
	c.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", cacheStatic(http.FileServerFS(static))))
	c.mux.HandleFunc("GET /ui/signin", c.signinPage)
	c.mux.HandleFunc("POST /ui/signin", c.signin)
	c.mux.HandleFunc("POST /ui/signout", c.signout)
	c.mux.HandleFunc("GET /ui/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/deliveries", http.StatusSeeOther)
	})
	c.handle("GET /ui/deliveries", c.deliveries)
	c.handle("GET /ui/deliveries/{receiptId}", c.delivery)
	c.handle("GET /ui/deliveries/{receiptId}/errors.csv", c.errorsCSV)
	c.handle("GET /ui/deliveries/{receiptId}/warnings.csv", c.warningsCSV)
	c.handle("GET /ui/deliveries/{receiptId}/inputs", c.inputs)
	c.handle("GET /ui/deliveries/{receiptId}/operations", c.operations)
	c.handle("GET /ui/deliveries/{receiptId}/{action}", c.confirm)
	c.handle("POST /ui/deliveries/{receiptId}/{action}", c.act)
	c.handle("GET /ui/operations/{id}", c.operation)
	c.handle("GET /ui/overview", c.overview)
	return c, nil
}

// Run samples the pipeline for the overview until ctx ends.
func (c *Console) Run(ctx context.Context) error {
	c.sampler.run(ctx)
	return nil
}

// ServeHTTP serves the console's pages.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// The pages load only their own script and style, and no other site
	// may frame them.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// session is a signed-in request's identity.
type session struct {
	Scope string // a merchant, or tracking.Operator
	token string // "" in dev mode
	CSRF  string // the form token of the session
}

type sessionKey struct{}

func sessionOf(r *http.Request) *session { return r.Context().Value(sessionKey{}).(*session) }

// handle registers a page that needs a session: without one, the browser
// goes to the sign-in page (htmx polls are told so with HX-Redirect).
func (c *Console) handle(pattern string, h http.HandlerFunc) {
	c.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.session(r)
		if !ok {
			if r.Method == http.MethodGet && r.Header.Get("HX-Request") == "" {
				http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
				return
			}
			w.Header().Set("HX-Redirect", "/ui/signin")
			c.errorPage(w, r, http.StatusUnauthorized, "Your session has ended; sign in again.")
			return
		}
		if r.Method == http.MethodPost && (!sameOrigin(r) || !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(s.CSRF))) {
			c.errorPage(w, r, http.StatusForbidden, "This form is stale or was not sent from the console; reload the page and try again.")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
	})
}

// session reads the request's session from its cookie; in dev mode every
// request is an operator's.
func (c *Console) session(r *http.Request) (*session, bool) {
	if c.reads.Open() {
		mac := hmac.New(sha256.New, c.devKey)
		return &session{Scope: tracking.Operator, CSRF: hex.EncodeToString(mac.Sum(nil))}, true
	}
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil {
		return nil, false
	}
	token := string(raw)
	scope, ok := c.reads.Scope(token)
	if !ok {
		return nil, false
	}
	// Derived from the token, the form token needs no server state (any
	// query replica checks it) and no one without the token can make it.
	sum := sha256.Sum256([]byte("importd console form\x00" + token))
	return &session{Scope: scope, token: token, CSRF: hex.EncodeToString(sum[:])}, true
}

// sameOrigin refuses a form another site sent: the browser says so in
// Sec-Fetch-Site, or in an Origin that is not this host.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	if c.reads.Open() {
		http.Redirect(w, r, "/ui/deliveries", http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "signin", nil, map[string]any{})
}

// signin checks the posted token and keeps it in the session cookie.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	if c.reads.Open() {
		http.Redirect(w, r, "/ui/deliveries", http.StatusSeeOther)
		return
	}
	if !sameOrigin(r) {
		c.errorPage(w, r, http.StatusForbidden, "Sign in from the console's own page.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	token := strings.TrimSpace(r.PostFormValue("token"))
	scope, ok := c.reads.Scope(token)
	if token == "" || !ok {
		c.logger.Info("console sign-in refused", zap.String("remote", r.RemoteAddr))
		c.render(w, r, http.StatusUnauthorized, "signin", nil, map[string]any{"Error": "This token is not known. Use an API token from the tokens file."})
		return
	}
	c.logger.Info("console sign-in", zap.String("merchant", scope), zap.String("remote", r.RemoteAddr))
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: base64.RawURLEncoding.EncodeToString([]byte(token)), Path: Prefix,
		MaxAge: int(c.cfg.SessionTTL.Seconds()), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/ui/deliveries", http.StatusSeeOther)
}

// signout clears the session cookie. It needs no form token: another
// site signing one out does no harm, and SameSite=Strict keeps the cookie
// from its requests anyway.
func (c *Console) signout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
}

// fail answers an unexpected error: logged, not shown.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	c.logger.Error("console request failed", zap.String("path", r.URL.Path), zap.Error(err))
	c.errorPage(w, r, http.StatusInternalServerError, "Something went wrong reading this page; the query service's log says what.")
}

func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, code int, msg string) {
	var s *session
	if v, ok := r.Context().Value(sessionKey{}).(*session); ok {
		s = v
	}
	c.render(w, r, code, "error", s, map[string]any{"Message": msg, "Code": code})
}
