package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/importer"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/resolver"
	"github.com/importd/importd/tracking"
)

// storedWork waits until ingest has stored n operations of receipt and
// returns a work batch naming them all, as a message would.
func (e *env) storedWork(receipt string, n int) bus.WorkBatch {
	e.t.Helper()
	var wb bus.WorkBatch
	require.Eventually(e.t, func() bool {
		rows, err := e.pool.Query(context.Background(), `SELECT o.merchant_id, o.delivery_at, o.seq, o.resource_key FROM operations o
			WHERE o.receipt_id = $1 AND o.state = 'processing' ORDER BY o.seq`, receipt)
		if err != nil {
			return false
		}
		defer rows.Close()
		wb = bus.WorkBatch{ReceiptID: receipt}
		for rows.Next() {
			var op bus.WorkOp
			if rows.Scan(&wb.MerchantID, &wb.DeliveryAt, &op.Seq, &op.Key) != nil {
				return false
			}
			op.ID = tracking.OperationID(wb.MerchantID, receipt, op.Seq).String()
			op.Record = json.RawMessage(category(op.Key, ""))
			wb.Ops = append(wb.Ops, op)
		}
		return len(wb.Ops) == n
	}, 30*time.Second, 10*time.Millisecond)
	return wb
}

// publishWork publishes a work message as a producer would.
func (e *env) publishWork(subject string, data []byte) {
	e.t.Helper()
	msg := nats.NewMsg(subject)
	msg.Data = data
	_, err := e.js.PublishMsg(context.Background(), msg)
	require.NoError(e.t, err)
}

// requireRejected waits until the operation of key is rejected with a
// SYSTEM_ERROR of code, recorded by a Rejected event.
func (e *env) requireRejected(receipt, key, code string) {
	e.t.Helper()
	o := e.waitState(receipt, key, "rejected", 30*time.Second)
	require.Len(e.t, o.Errors, 1)
	require.Equal(e.t, catalog.SystemError, o.Errors[0].Type)
	require.Equal(e.t, code, o.Errors[0].Code)
	require.Contains(e.t, e.events(receipt, key), int(tracking.CodeRejected))
}

// consumerSettled waits until the consumer has nothing pending or
// unacknowledged, and returns how many deliveries it made.
func (e *env) consumerSettled(name string) uint64 {
	e.t.Helper()
	var info *jetstream.ConsumerInfo
	require.Eventually(e.t, func() bool {
		c, err := e.js.Consumer(context.Background(), bus.StreamWork, name)
		if err != nil {
			return false
		}
		info, err = c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0
	}, 30*time.Second, 10*time.Millisecond)
	return info.Delivered.Consumer
}

// A work message naming a resource type no stage handles is rejected at
// once, by the importer and by the resolver, not redelivered for ever.
func TestUnknownResourceTypeRejectedByImporter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startIngest()
	e.deliver("m1", "loop-unknown-1", catalog.Category, category("c1", ""), category("c2", ""))
	wb := e.storedWork("loop-unknown-1", 2)
	wb.ResourceType = "Gadget"
	e.startImporter(importer.Config{})
	e.publishWork(bus.ApplySubject("m1"), bus.EncodeWork(nil, &wb))
	e.requireRejected("loop-unknown-1", "c1", tracking.CodeUnknownResourceType)
	e.requireRejected("loop-unknown-1", "c2", tracking.CodeUnknownResourceType)
	require.EqualValues(t, 1, e.consumerSettled(bus.ConsumerApply), "terminated at its first delivery")
}

func TestUnknownResourceTypeRejectedByResolver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startIngest()
	// No importer: the operation, resolved or not, is processing when the
	// message naming an unknown type comes.
	e.deliver("m1", "loop-unknown-2", catalog.Category, category("c3", ""))
	wb := e.storedWork("loop-unknown-2", 1)
	wb.ResourceType = "Gadget"
	e.publishWork(bus.ResolveSubject("m1"), bus.EncodeWork(nil, &wb))
	e.startResolver(resolver.Config{})
	e.requireRejected("loop-unknown-2", "c3", tracking.CodeUnknownResourceType)
	require.Eventually(t, func() bool { return e.statusName("loop-unknown-2") == "CompletedWithErrors" }, 30*time.Second, 10*time.Millisecond)
}

// failUpdates makes every write of an operation to state fail, as a bug
// would: the worker's transaction fails each time.
func (e *env) failUpdates(state string, stage tracking.Stage) {
	e.t.Helper()
	_, err := e.pool.Exec(context.Background(), `
		CREATE FUNCTION test_fail_update() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.state = '`+state+`' AND NEW.stage = `+string('0'+rune(stage))+` THEN
				RAISE EXCEPTION 'test: this write always fails';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER test_fail_update BEFORE UPDATE ON operations FOR EACH ROW EXECUTE FUNCTION test_fail_update();`)
	require.NoError(e.t, err)
}

// A work message the importer fails to handle every time is redelivered
// WorkMaxDeliveries times, then its operations are rejected.
func TestImporterRedeliveryBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.failUpdates("imported", tracking.StageResolved)
	e.startIngest()
	e.startResolver(resolver.Config{})
	e.startImporter(importer.Config{Bus: bus.Config{WorkMaxDeliveries: 3}})
	e.deliver("m1", "loop-importer", catalog.Category, category("c1", ""), category("c2", ""))
	e.requireRejected("loop-importer", "c1", tracking.CodeRedeliveryLimit)
	e.requireRejected("loop-importer", "c2", tracking.CodeRedeliveryLimit)
	o, _ := e.op("loop-importer", "c1")
	require.Contains(t, o.Errors[0].Description, "3 times")
	require.Contains(t, o.Errors[0].Description, "this write always fails")
	require.EqualValues(t, 3, e.consumerSettled(bus.ConsumerApply))
	require.Eventually(t, func() bool { return e.statusName("loop-importer") == "CompletedWithErrors" }, 30*time.Second, 10*time.Millisecond)
}

// The same in the resolver.
func TestResolverRedeliveryBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.failUpdates("processing", tracking.StageResolved)
	e.startIngest()
	e.startResolver(resolver.Config{Bus: bus.Config{WorkMaxDeliveries: 3}})
	e.deliver("m1", "loop-resolver", catalog.Category, category("c1", ""))
	e.requireRejected("loop-resolver", "c1", tracking.CodeRedeliveryLimit)
	require.EqualValues(t, 3, e.consumerSettled(bus.ConsumerResolve))
}

// A work message of a newer version is left for a newer worker, up to the
// bound, then terminated.
func TestNewerWorkVersionBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startImporter(importer.Config{Bus: bus.Config{WorkMaxDeliveries: 3}})
	e.publishWork(bus.ApplySubject("m1"), []byte{0x00, 0x09, 'x'})
	require.EqualValues(t, 3, e.consumerSettled(bus.ConsumerApply))
}
