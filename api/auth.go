package api

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

// Tokens maps API tokens to the merchant they belong to. Tokens are kept as
// SHA-256 digests.
type Tokens struct {
	byDigest map[[32]byte]string
}

// LoadTokens reads a tokens file: one "token merchantId" a line ("*" for an
// operator); blank lines and lines starting with # are ignored.
func LoadTokens(path string) (*Tokens, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tracking: tokens file: %w", err)
	}
	defer f.Close()
	t := &Tokens{byDigest: make(map[[32]byte]string)}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("tracking: tokens file %s line %d: want \"token merchantId\"", path, n)
		}
		token, merchant := fields[0], fields[1]
		if len(token) < 16 {
			return nil, fmt.Errorf("tracking: tokens file %s line %d: token shorter than 16 characters", path, n)
		}
		if merchant != tracking.Operator && !bus.ValidMerchant(merchant) {
			return nil, fmt.Errorf("tracking: tokens file %s line %d: invalid merchant id %q", path, n, merchant)
		}
		t.byDigest[sha256.Sum256([]byte(token))] = merchant
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tracking: tokens file: %w", err)
	}
	if len(t.byDigest) == 0 {
		return nil, fmt.Errorf("tracking: tokens file %s holds no token", path)
	}
	return t, nil
}

// NewTokens returns tokens from a token → merchant map (for tests and embedding).
func NewTokens(m map[string]string) *Tokens {
	t := &Tokens{byDigest: make(map[[32]byte]string, len(m))}
	for token, merchant := range m {
		t.byDigest[sha256.Sum256([]byte(token))] = merchant
	}
	return t
}

// Merchant returns the merchant of a token.
func (t *Tokens) Merchant(token string) (string, bool) {
	m, ok := t.byDigest[sha256.Sum256([]byte(token))]
	return m, ok
}

type scopeKey struct{}

// tokenKey holds an identity of the request's token (its digest), by which
// per-token bounds count; "" without tokens.
type tokenKey struct{}

// tokenOf returns the identity of the request's token.
func tokenOf(ctx context.Context) string {
	s, _ := ctx.Value(tokenKey{}).(string)
	return s
}

// noScope is the scope of a request that went through no authentication:
// not a valid merchant id, so it matches no delivery, operation or merchant.
const noScope = "!unauthenticated"

// scopeOf returns the merchant the request may see, Operator for all. It
// fails closed: a request authenticate has not seen gets noScope, so a
// handler mounted without authentication sees nothing.
func scopeOf(ctx context.Context) string {
	if s, ok := ctx.Value(scopeKey{}).(string); ok {
		return s
	}
	return noScope
}

// authenticate requires a valid bearer token when tokens are configured and
// puts its merchant in the request's context. Without tokens (dev mode
// only) every request is an operator's, said so explicitly.
func (s *Server) authenticate(next http.Handler) http.Handler {
	if s.cfg.Tokens == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), scopeKey{}, tracking.Operator)))
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		token = strings.TrimSpace(token)
		merchant, known := s.cfg.Tokens.Merchant(token)
		if !ok || !known {
			w.Header().Set("WWW-Authenticate", `Bearer realm="importd"`)
			writeError(w, r, http.StatusUnauthorized, "a valid bearer token is required")
			return
		}
		digest := sha256.Sum256([]byte(token))
		ctx := context.WithValue(r.Context(), scopeKey{}, merchant)
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, tokenKey{}, string(digest[:]))))
	})
}
