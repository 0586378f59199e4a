package api

import (
	"net/http"
	"strings"
)

// problemType is the type of every /v1 problem: RFC 9457 (section 4.2.1)
// defines "about:blank" as a problem that is no more than its status code,
// with the status's phrase as title; the detail says what went wrong.
const problemType = "about:blank"

// Problem is an RFC 9457 problem details object, the body of every /v1
// error (application/problem+json). Error repeats Detail for the clients
// that read the {"error": "…"} body of earlier versions.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Error  string `json:"error"`
	// Merchants lists the merchants whose deliveries share a receipt, on
	// the 409 answering an operator's ambiguous receipt.
	Merchants []string `json:"merchants,omitempty"`
}

// isV1 reports whether the request is for the /v1 API, whose errors are
// problem details; the CDON endpoints keep their {"error": "…"} bodies.
func isV1(r *http.Request) bool {
	return r.URL.Path == "/v1" || strings.HasPrefix(r.URL.Path, "/v1/")
}

// writeError answers an error: a problem details object for /v1, the
// contract's {"error": msg} elsewhere.
func writeError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	writeProblem(w, r, Problem{Status: code, Detail: msg})
}

// writeProblem answers p (its Status and Detail set, Merchants optionally);
// outside /v1 only the error and merchants members are sent.
func writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	if !isV1(r) {
		body := map[string]any{"error": p.Detail}
		if p.Merchants != nil {
			body["merchants"] = p.Merchants
		}
		writeJSON(w, p.Status, body)
		return
	}
	p.Type, p.Title, p.Error = problemType, http.StatusText(p.Status), p.Detail
	w.Header().Set("Content-Type", "application/problem+json")
	writeBody(w, p.Status, p)
}

// muxStatus records what the mux answers a request it has no route for (404,
// 405 with Allow, or a redirect to the canonical path), so that for /v1 it
// can be said as a problem.
type muxStatus struct {
	header http.Header
	code   int
	body   []byte
}

func (m *muxStatus) Header() http.Header { return m.header }

func (m *muxStatus) WriteHeader(code int) {
	if m.code == 0 {
		m.code = code
	}
}

func (m *muxStatus) Write(b []byte) (int, error) {
	if m.code == 0 {
		m.code = http.StatusOK
	}
	m.body = append(m.body, b...)
	return len(b), nil
}

// unrouted answers a /v1 request that matches no route: the mux's own 404
// and 405 become problems, its redirects pass through.
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request, h http.Handler) {
	rec := &muxStatus{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.code {
	case http.StatusNotFound:
		writeError(w, r, http.StatusNotFound, "no such endpoint: "+r.URL.Path+" (GET /openapi.json lists them)")
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		writeError(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path+" (allowed: "+rec.header.Get("Allow")+")")
	default:
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		w.WriteHeader(rec.code)
		w.Write(rec.body)
	}
}
