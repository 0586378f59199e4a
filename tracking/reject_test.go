package tracking_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
	"github.com/importd/importd/tracking"
)

func TestRejectCodesDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/errors.md")
	require.NoError(t, err)
	for _, c := range []string{tracking.CodeWorkMessageTooLarge, tracking.CodeUnknownResourceType, tracking.CodeRedeliveryLimit} {
		require.Contains(t, string(doc), "| `"+c+"` | SYSTEM_ERROR |", c)
	}
}

// RejectWork rejects the operations still processing, keeps their records
// for a retry on request, leaves the others alone, and does nothing when
// repeated.
func TestRejectWork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.DB(t)
	store, err := tracking.NewStore(pool, tracking.StoreConfig{})
	require.NoError(t, err)
	d := deliverAt(t, store, "reject-work", time.Now(), "k0", "k1", "k2")
	_, err = endOperation(ctx, pool, &d, 0, tracking.StateImported, tracking.CodeImported, nil)
	require.NoError(t, err)

	wb := &bus.WorkBatch{ReceiptID: d.ReceiptID, MerchantID: d.MerchantID, DeliveryAt: d.AcceptedAt, ResourceType: "Product"}
	for i, k := range []string{"k0", "k1", "k2"} {
		wb.Ops = append(wb.Ops, bus.WorkOp{ID: tracking.OperationID(d.MerchantID, d.ReceiptID, i).String(), Seq: i, Key: k, Record: json.RawMessage(`{"key":"` + k + `"}`)})
	}
	completed, err := store.RejectWork(ctx, wb, wb.Ops, tracking.CodeRedeliveryLimit, "the importer failed 20 times")
	require.NoError(t, err)
	require.Len(t, completed, 1, "the last operations ended: the delivery completes")

	rejectedEvents := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM tracking_events WHERE receipt_id = $1 AND code = $2`,
			d.ReceiptID, int(tracking.CodeRejected)).Scan(&n))
		return n
	}
	require.Equal(t, 2, rejectedEvents())
	for seq, want := range []string{"imported", "rejected", "rejected"} {
		var state string
		var errs []catalog.Error
		var record []byte
		require.NoError(t, pool.QueryRow(ctx, `SELECT state, coalesce(errors, '[]'), record FROM operations WHERE receipt_id = $1 AND seq = $2`,
			d.ReceiptID, seq).Scan(&state, &errs, &record))
		require.Equal(t, want, state, "seq %d", seq)
		if want == "rejected" {
			require.Equal(t, []catalog.Error{{Type: catalog.SystemError, Code: tracking.CodeRedeliveryLimit, Description: "the importer failed 20 times"}}, errs)
			require.JSONEq(t, string(wb.Ops[seq].Record), string(record), "kept for a retry on request")
		}
	}

	completed, err = store.RejectWork(ctx, wb, wb.Ops, tracking.CodeRedeliveryLimit, "again")
	require.NoError(t, err)
	require.Empty(t, completed)
	require.Equal(t, 2, rejectedEvents())
}
