package bus_test

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/testenv"
)

// A work message cut at exactly MaxWorkBytes is accepted by a server with
// a small max payload, headers and all: WorkHeaderRoom is enough.
func TestCutWorkFitsTheServer(t *testing.T) {
	t.Parallel()
	nc, js := testenv.JetStream(t, testenv.NATSWith(t, bus.EmbeddedConfig{MaxPayload: 64 << 10}))
	limit := bus.MaxWorkBytes(nc)
	require.Equal(t, 64<<10-bus.WorkHeaderRoom, limit)

	wb := &bus.WorkBatch{ReceiptID: strings.Repeat("r", 64), MerchantID: strings.Repeat("m", 64), ResourceType: "Product",
		DeliveryAt: time.Now().UTC(), Ops: []bus.WorkOp{{ID: "01a208d6-a1b5-7860-9038-43cc8a40f0dc", Seq: 1 << 30, Key: strings.Repeat("k", 256)}}}
	random := make([]byte, limit+bus.WorkHeaderRoom)
	rand.New(rand.NewSource(1)).Read(random)
	// A record that does not compress, sized to make the message exactly
	// limit bytes (its length's varint grows with it: adjust until it does).
	rec := random[:limit/2]
	for i := 0; i < 4; i++ {
		wb.Ops[0].Record = rec
		rec = random[:len(rec)+limit-len(bus.EncodeWork(nil, wb))]
	}
	wb.Ops[0].Record = rec
	msgs, tooLarge := bus.CutWork(wb, 0, limit)
	require.Equal(t, 0, len(tooLarge))
	require.Equal(t, 1, len(msgs))
	require.Equal(t, limit, len(msgs[0].Data), "exactly at the limit")

	msg := nats.NewMsg(bus.ApplySubject(wb.MerchantID))
	msg.Data = msgs[0].Data
	msg.Header.Set(bus.HeaderMsgID, fmt.Sprintf("%s.%d.apply.outbox.%d.%016x", wb.ReceiptID, 1<<30, int64(1)<<62, uint64(1)<<63))
	_, err := js.PublishMsg(context.Background(), msg)
	require.NoError(t, err)
	// Headers count against the max payload: a body of the whole of it is refused.
	msg.Data = random[:limit+bus.WorkHeaderRoom]
	_, err = js.PublishMsg(context.Background(), msg)
	require.ErrorIs(t, err, nats.ErrMaxPayload)

	// One byte more and the operation travels in no message.
	wb.Ops[0].Record = random[:len(rec)+1]
	msgs, tooLarge = bus.CutWork(wb, 0, limit)
	require.Equal(t, 0, len(msgs))
	require.Equal(t, 1, len(tooLarge))
}
