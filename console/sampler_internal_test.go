package console

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSamplerRing: the ring holds the last window of samples, oldest first,
// and no more, however long the process runs.
func TestSamplerRing(t *testing.T) {
	t.Parallel()
	s := newSampler(nil, nil, 10*time.Second, time.Minute, nil)
	require.Len(t, s.ring, 7, "a minute of 10s samples, both ends")
	start := time.Date(2026, 12, 5, 16, 0, 0, 0, time.UTC)
	for i := range 100 {
		s.add(sample{at: start.Add(time.Duration(i) * 10 * time.Second), totals: [4]int64{int64(i)}})
	}
	got := s.samples()
	require.Len(t, got, 7)
	for i, smp := range got {
		require.Equal(t, int64(93+i), smp.totals[0])
	}
}

// TestRates: records per second between samples; a total that shrinks (its
// deliveries expired) counts as no progress rather than a negative rate.
func TestRates(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 5, 16, 0, 0, 0, time.UTC)
	smps := []sample{
		{at: at, totals: [4]int64{100, 80, 50, 0}},
		{at: at.Add(10 * time.Second), totals: [4]int64{300, 230, 150, 10}},
		{at: at.Add(20 * time.Second), totals: [4]int64{200, 150, 150, 10}},
	}
	times, ss := rates(smps)
	require.Len(t, times, 2)
	require.Equal(t, "ingested", ss[0].Name)
	require.InDelta(t, 20.0, *ss[0].Points[0], 1e-9)
	require.Equal(t, "resolved", ss[1].Name)
	require.InDelta(t, 15.0, *ss[1].Points[0], 1e-9)
	require.InDelta(t, 10.0, *ss[2].Points[0], 1e-9)
	require.InDelta(t, 1.0, *ss[3].Points[0], 1e-9)
	require.Zero(t, *ss[0].Points[1], "expired deliveries are no negative rate")

	_, ls := lags([]sample{{at: at, lag: [4]int64{5, -1, 0, 2}}})
	require.NotNil(t, ls[0].Points[0])
	require.Nil(t, ls[1].Points[0], "an unknown lag is a gap, not a zero")
}

// TestChart: the SVG draws each series as a line, leaves gaps where
// nothing was read, and escapes what it shows.
func TestChart(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 17, 0, 0, 0, time.UTC)
	v := func(f float64) *float64 { return &f }
	times := []time.Time{now.Add(-3 * time.Minute), now.Add(-2 * time.Minute), now.Add(-time.Minute), now}
	out := string(chart(`a <b> & "c"`, "records/s", times, []series{
		{Name: "ingested", Points: []*float64{v(1), v(7), nil, v(3)}},
		{Name: "<x>", Points: []*float64{nil, nil, nil, nil}},
	}, time.Hour, now))
	require.Equal(t, 2, strings.Count(out, "<polyline"), "the gap splits the line in two; an empty series draws none")
	require.Contains(t, out, "a &lt;b&gt; &amp; &#34;c&#34;")
	require.Contains(t, out, "&lt;x&gt;: – records/s")
	require.Contains(t, out, "ingested: 3 records/s")
	require.Contains(t, out, ">10<", "the axis tops at a round number over the peak")
	require.Contains(t, out, "−60 min")
}

func TestNiceCeil(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want float64 }{{0, 1}, {0.3, 1}, {1.5, 2}, {3, 5}, {7, 10}, {10, 10}, {11, 20}, {420, 500}, {501, 1000}} {
		require.Equal(t, tt.want, niceCeil(tt.in), "%g", tt.in)
	}
}
