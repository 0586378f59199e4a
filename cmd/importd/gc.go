package main

import (
	"os"
	"runtime/debug"

	"go.uber.org/zap"
)

// Garbage collector defaults of a role, where GOGC and GOMEMLIMIT are not
// set. A worker's live heap is small (tens of MiB: the batches in hand), so
// Go's default of a collection each time the heap doubles spends a large
// share of a worker's CPU collecting. Collecting at five times the live heap
// spends far less; the soft limit keeps every role well within its memory
// budget (300 MB a role) by collecting more often as the heap approaches it.
const (
	defaultGCPercent = 400
	roleMemoryLimit  = 200 << 20 // one role a process
	allMemoryLimit   = 768 << 20 // every role in one process (all, dev)
)

func tuneGC(role string, logger *zap.Logger) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		limit := int64(roleMemoryLimit)
		if role == "all" || role == "dev" {
			limit = allMemoryLimit
		}
		debug.SetMemoryLimit(limit)
	}
	// A negative limit reads the limit without changing it.
	logger.Debug("garbage collector", zap.String("GOGC", os.Getenv("GOGC")), zap.Int64("memory_limit", debug.SetMemoryLimit(-1)))
}
