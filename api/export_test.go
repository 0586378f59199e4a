package api

import (
	"context"

	"github.com/google/uuid"

	"github.com/importd/importd/tracking"
)

// JobOf is the job object the action handlers answer, for package api_test.
func JobOf(ctx context.Context, ts *tracking.Store, d *tracking.Delivery, detail bool) (Job, error) {
	return (&views{ts: ts}).Job(ctx, d, detail)
}

// OperationOf is the operation the action handlers answer, for package
// api_test.
func OperationOf(ctx context.Context, ts *tracking.Store, id uuid.UUID) (OperationView, error) {
	return (&views{ts: ts}).OperationGet(ctx, id)
}
