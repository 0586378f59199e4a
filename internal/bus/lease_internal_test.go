package bus

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLeaseRenewsAtMostOncePerQuarterAckWait(t *testing.T) {
	t.Parallel()
	m := &fakeMsg{}
	l := NewLease(m, Config{AckWait: 2 * time.Second})
	require.NoError(t, l.Renew())
	require.Empty(t, m.calls, "just taken")
	time.Sleep(510 * time.Millisecond)
	require.NoError(t, l.Renew())
	require.NoError(t, l.Renew())
	require.Equal(t, []string{"in-progress"}, m.calls, "one in-progress ack per AckWait/4")
	time.Sleep(510 * time.Millisecond)
	require.NoError(t, l.Renew())
	require.Equal(t, []string{"in-progress", "in-progress"}, m.calls)
}
