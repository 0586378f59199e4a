package main

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

func TestTuneGC(t *testing.T) {
	restore := func(percent int, limit int64) {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
	defer restore(debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64))

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	tuneGC("import", zap.NewNop())
	require.Equal(t, defaultGCPercent, debug.SetGCPercent(100))
	require.EqualValues(t, roleMemoryLimit, debug.SetMemoryLimit(math.MaxInt64))
	tuneGC("dev", zap.NewNop())
	require.EqualValues(t, allMemoryLimit, debug.SetMemoryLimit(math.MaxInt64))

	// What the operator set is left alone.
	debug.SetGCPercent(100)
	t.Setenv("GOGC", "100")
	t.Setenv("GOMEMLIMIT", "1GiB")
	tuneGC("import", zap.NewNop())
	require.Equal(t, 100, debug.SetGCPercent(100))
	require.EqualValues(t, int64(math.MaxInt64), debug.SetMemoryLimit(math.MaxInt64))
}
