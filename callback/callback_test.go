package callback

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHostsCheck(t *testing.T) {
	t.Parallel()
	hosts, err := ParseHosts(" hooks.example.com , 10.0.0.5:8443,[::1],LOCALHOST:9000")
	require.NoError(t, err)
	require.True(t, hosts.Enabled())
	require.Equal(t, "hooks.example.com,10.0.0.5:8443,[::1],localhost:9000", hosts.String())
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example.com/importd?token=x", true},
		{"http://hooks.example.com:8080/importd", true}, // a host without a port: any port
		{"https://HOOKS.example.com/", true},
		{"https://10.0.0.5:8443/done", true},
		{"https://10.0.0.5/done", false}, // 443, not 8443
		{"http://[::1]:7000/x", true},
		{"http://localhost:9000/x", true},
		{"http://localhost:9001/x", false},
		{"https://hooks.example.com.evil.net/", false},
		{"https://evil.net/?hooks.example.com", false},
		{"ftp://hooks.example.com/", false},
		{"hooks.example.com/x", false},
		{"https://user:pw@hooks.example.com/", false},
		{"https://hooks.example.com/#frag", false},
		{"https://hooks.example.com/" + strings.Repeat("x", MaxURL), false},
		{"https://hooks.example.com/a b", false},
		{"https://hooks.example.com:99999/", false},
	}
	for _, tt := range tests {
		_, err := hosts.Check(tt.url)
		if tt.ok {
			require.NoError(t, err, tt.url)
		} else {
			require.Error(t, err, tt.url)
		}
	}
	_, err = hosts.Check("https://evil.net/")
	require.True(t, errors.Is(err, ErrNotAllowed))

	var none Hosts
	require.False(t, none.Enabled())
	_, err = none.Check("https://hooks.example.com/")
	require.ErrorIs(t, err, ErrNotAllowed)

	all, err := ParseHosts("*")
	require.NoError(t, err)
	_, err = all.Check("https://anything.example.org:1234/x")
	require.NoError(t, err)

	for _, bad := range []string{"a/b", "host:0", "host:x", "user@host"} {
		_, err := ParseHosts(bad)
		require.Error(t, err, bad)
	}
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	secret := []byte("a-secret-of-enough-bytes")
	body := []byte(`{"ReceiptId":"r-1","Status":"CompletedSuccessfully"}`)
	at := time.Unix(1_800_000_000, 0)
	h := Sign(secret, at, body)
	require.Regexp(t, `^t=1800000000,v1=[0-9a-f]{64}$`, h)
	require.NoError(t, Verify(secret, h, body, at.Add(time.Minute), 5*time.Minute))

	require.ErrorIs(t, Verify(secret, h, append(body, ' '), at, time.Minute), ErrBadSignature)
	require.ErrorIs(t, Verify([]byte("another-secret-of-bytes"), h, body, at, time.Minute), ErrBadSignature)
	require.ErrorIs(t, Verify(secret, h, body, at.Add(10*time.Minute), 5*time.Minute), ErrStale)
	require.ErrorIs(t, Verify(secret, "v1=00", body, at, time.Minute), ErrBadSignature)
	// The time is signed: moving it breaks the signature.
	moved := strings.Replace(h, "t=1800000000", "t=1800000001", 1)
	require.ErrorIs(t, Verify(secret, moved, body, at, time.Minute), ErrBadSignature)
	// During a change of secret the sender may put both signatures.
	both := h + ",v1=" + strings.TrimPrefix(Sign([]byte("the-next-secret-of-bytes"), at, body), "t=1800000000,v1=")
	require.NoError(t, Verify([]byte("the-next-secret-of-bytes"), both, body, at, time.Minute))
}
