package ingest

import "testing"

func TestInFlightLimit(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ max, reading, want int }{
		{2000, 0, 2000}, {2000, 1, 2000}, {2000, 2, 2000}, {2000, 3, 1333}, {2000, 4, 1000}, {2000, 8, 500},
		{-1, 4, -1}, {3, 100, 1},
	} {
		w := &Worker{cfg: Config{MaxInFlight: c.max}}
		w.reading.Store(int32(c.reading))
		if got := w.inFlightLimit(); got != c.want {
			t.Errorf("MaxInFlight %d, %d deliveries read: limit %d, want %d", c.max, c.reading, got, c.want)
		}
	}
}
