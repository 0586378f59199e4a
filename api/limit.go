package api

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Defaults of the bounds on streamed responses.
const (
	DefaultMaxStreams         = 16
	DefaultMaxStreamsPerToken = 2
)

// streamRetryAfter is what a client refused a stream is told to wait.
const streamRetryAfter = 5 * time.Second

// streamLimiter bounds the streamed responses (summary, errors.csv) served
// at once, in all and per token: each holds a database connection for as
// long as it streams, and one client must not take them all.
type streamLimiter struct {
	mu       sync.Mutex
	max, per int
	total    int
	byToken  map[string]int
}

func newStreamLimiter(max, per int) *streamLimiter {
	return &streamLimiter{max: max, per: per, byToken: map[string]int{}}
}

// acquire takes a slot for token; ok is false when none is free.
func (l *streamLimiter) acquire(token string) (release func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max || l.byToken[token] >= l.per {
		return nil, false
	}
	l.total++
	l.byToken[token]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.byToken[token]--; l.byToken[token] == 0 {
				delete(l.byToken, token)
			}
		})
	}, true
}

// streamed bounds how many responses of next run at once (see
// streamLimiter); a request over the bound gets 429 with Retry-After.
func (s *Server) streamed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		release, ok := s.streams.acquire(tokenOf(r.Context()))
		if !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(streamRetryAfter.Seconds())))
			writeError(w, r, http.StatusTooManyRequests, fmt.Sprintf(
				"too many streamed responses (summaries, error exports, inputs) at once: at most %d per token and %d in all; retry in a few seconds",
				s.cfg.MaxStreamsPerToken, s.cfg.MaxStreams))
			return
		}
		defer release()
		next(w, r)
	}
}
