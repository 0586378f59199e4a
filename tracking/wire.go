package tracking

import (
	"strings"
	"time"

	"github.com/importd/importd/internal/store"
)

// StatusOf is the /status body of delivery d with counts c at now: the
// query service answers it and the delivery events carry it.
func StatusOf(d *Delivery, c Counts, now time.Time) StatusBody { return statusBody(d, c, now) }

// KnownSummaryFilter reports whether s is a /summary ?status= value.
func KnownSummaryFilter(s string) bool {
	return store.OperationsSummaryFilter(strings.ToLower(s))
}
