package bus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

// fakeMsg records what was done to it.
type fakeMsg struct {
	delivered uint64
	calls     []string
	delays    []time.Duration // of each NakWithDelay
	fail      error           // returned by every ack call
}

func (m *fakeMsg) record(format string, args ...any) error {
	m.calls = append(m.calls, fmt.Sprintf(format, args...))
	return m.fail
}

func (m *fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	if m.delivered == 0 {
		return nil, errors.New("no metadata")
	}
	return &jetstream.MsgMetadata{NumDelivered: m.delivered}, nil
}
func (m *fakeMsg) Data() []byte                    { return nil }
func (m *fakeMsg) Headers() nats.Header            { return nil }
func (m *fakeMsg) Subject() string                 { return "import.apply.m1" }
func (m *fakeMsg) Reply() string                   { return "" }
func (m *fakeMsg) Ack() error                      { return m.record("ack") }
func (m *fakeMsg) DoubleAck(context.Context) error { return m.record("double-ack") }
func (m *fakeMsg) Nak() error                      { return m.record("nak") }
func (m *fakeMsg) NakWithDelay(d time.Duration) error {
	m.delays = append(m.delays, d)
	return m.record("nak")
}
func (m *fakeMsg) InProgress() error                  { return m.record("in-progress") }
func (m *fakeMsg) Term() error                        { return m.record("term") }
func (m *fakeMsg) TermWithReason(reason string) error { return m.record("term %q", reason) }

var _ jetstream.Msg = (*fakeMsg)(nil)

// settle maps each outcome to exactly one JetStream call.
func TestSettle(t *testing.T) {
	t.Parallel()
	then := func(calls *int) func(context.Context) {
		return func(ctx context.Context) {
			require.NoError(t, ctx.Err(), "then gets a live context")
			*calls++
		}
	}
	tests := []struct {
		name      string
		cfg       ConsumerConfig
		delivered uint64
		out       func(calls *int) Outcome
		fail      error
		want      []string
		delay     [2]time.Duration // bounds of a nak's delay
		wantThen  int
	}{
		{name: "ack", out: func(*int) Outcome { return Ack }, want: []string{"ack"}},
		{name: "zero outcome acks", out: func(*int) Outcome { return Outcome{} }, want: []string{"ack"}},
		{name: "ack confirmed", cfg: ConsumerConfig{ConfirmAcks: true}, out: func(*int) Outcome { return Ack }, want: []string{"double-ack"}},
		{name: "ack then", out: func(c *int) Outcome { return AckThen(then(c)) }, want: []string{"double-ack"}, wantThen: 1},
		{name: "ack then, ack failed", out: func(c *int) Outcome { return AckThen(then(c)) }, fail: errors.New("timeout"),
			want: []string{"double-ack"}, wantThen: 0},
		{name: "retry", out: func(*int) Outcome { return Retry(time.Second) }, want: []string{"nak"},
			delay: [2]time.Duration{time.Second, time.Second}},
		{name: "retry at once", out: func(*int) Outcome { return Retry(0) }, want: []string{"nak"}},
		{name: "backoff, first delivery", cfg: ConsumerConfig{BackoffInitial: time.Minute, BackoffMax: time.Minute},
			delivered: 1, out: func(*int) Outcome { return Backoff(errors.New("boom")) }, want: []string{"nak"},
			delay: [2]time.Duration{30 * time.Second, 90 * time.Second}},
		{name: "backoff grows", cfg: ConsumerConfig{BackoffInitial: time.Second, BackoffMax: time.Hour},
			delivered: 3, out: func(*int) Outcome { return Backoff(errors.New("boom")) }, want: []string{"nak"},
			delay: [2]time.Duration{1125 * time.Millisecond, 3375 * time.Millisecond}},
		{name: "backoff, capped", cfg: ConsumerConfig{BackoffInitial: time.Second, BackoffMax: time.Second},
			delivered: 9, out: func(*int) Outcome { return Backoff(errors.New("boom")) }, want: []string{"nak"},
			delay: [2]time.Duration{500 * time.Millisecond, 1500 * time.Millisecond}},
		{name: "backoff without metadata", cfg: ConsumerConfig{BackoffInitial: time.Second, BackoffMax: time.Second},
			out: func(*int) Outcome { return Backoff(nil) }, want: []string{"nak"},
			delay: [2]time.Duration{500 * time.Millisecond, 1500 * time.Millisecond}},
		{name: "reject", out: func(*int) Outcome { return Reject("unreadable") }, want: []string{`term "unreadable"`}},
		{name: "reject without reason", out: func(*int) Outcome { return Reject("") }, want: []string{"term"}},
		{name: "failed ack is not retried", out: func(*int) Outcome { return Ack }, fail: errors.New("gone"), want: []string{"ack"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := NewConsumer(nil, tt.cfg, zaptest.NewLogger(t))
			msg := &fakeMsg{delivered: tt.delivered, fail: tt.fail}
			var thenCalls int
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // acks reach the server even while shutting down
			c.settle(ctx, msg, tt.out(&thenCalls))
			require.Equal(t, tt.want, msg.calls)
			require.Equal(t, tt.wantThen, thenCalls)
			for _, d := range msg.delays {
				require.GreaterOrEqual(t, d, tt.delay[0])
				require.LessOrEqual(t, d, tt.delay[1])
			}
		})
	}
}

// The backoff grows with the delivery count within the window, with jitter.
func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	c := NewConsumer(nil, ConsumerConfig{BackoffInitial: 200 * time.Millisecond, BackoffMax: 30 * time.Second}, nil)
	for attempt := 1; attempt <= 30; attempt++ {
		d := c.BackoffDelay(attempt)
		require.GreaterOrEqual(t, d, 100*time.Millisecond, "attempt %d", attempt)
		require.LessOrEqual(t, d, 45*time.Second, "attempt %d", attempt)
	}
	require.LessOrEqual(t, c.BackoffDelay(1), 300*time.Millisecond, "the first delay is the initial one")
	require.GreaterOrEqual(t, c.BackoffDelay(30), 15*time.Second, "the delays grow to the max")
	def := NewConsumer(nil, ConsumerConfig{}, nil)
	require.GreaterOrEqual(t, def.BackoffDelay(1), 500*time.Millisecond, "defaults to 1s..30s")
	require.LessOrEqual(t, def.BackoffDelay(1), 1500*time.Millisecond, "defaults to 1s..30s")
	require.LessOrEqual(t, def.BackoffDelay(100), 45*time.Second)
}
