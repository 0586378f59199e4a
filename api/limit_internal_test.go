package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStreamedResponsesBounded: streamed responses are bounded per token
// and in all; one over a bound gets 429 with Retry-After, and a slot is
// free again once a response ends.
func TestStreamedResponsesBounded(t *testing.T) {
	t.Parallel()
	tokens := NewTokens(map[string]string{"token-a-0123456789": "m1", "token-b-0123456789": "m1", "token-c-0123456789": "m2"})
	s := NewServer(nil, ServerConfig{Tokens: tokens, MaxStreams: 2, MaxStreamsPerToken: 1, Ready: func(context.Context) error { return nil }}, nil)
	release := make(chan struct{})
	started := make(chan struct{}, 4)
	mux := http.NewServeMux()
	mux.Handle("GET /stream", s.authenticate(s.streamed(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		w.WriteHeader(http.StatusOK)
	})))
	call := func(token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/stream", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	var wg sync.WaitGroup
	held := func(token string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.Equal(t, http.StatusOK, call(token).Code)
		}()
		<-started
	}
	held("token-a-0123456789")
	rec := call("token-a-0123456789")
	require.Equal(t, http.StatusTooManyRequests, rec.Code, "a second stream of the same token")
	require.Equal(t, "5", rec.Header().Get("Retry-After"))
	require.Contains(t, rec.Body.String(), "at most 1 per token and 2 in all")
	held("token-b-0123456789") // another token of the same merchant has its own
	require.Equal(t, http.StatusTooManyRequests, call("token-c-0123456789").Code, "two in all")
	close(release)
	wg.Wait()
	release = make(chan struct{})
	close(release)
	require.Equal(t, http.StatusOK, call("token-c-0123456789").Code, "free again")
	require.Equal(t, http.StatusOK, call("token-a-0123456789").Code)
}
