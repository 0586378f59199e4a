package bus

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/stretchr/testify/require"
)

func sampleWork() *WorkBatch {
	return &WorkBatch{
		ReceiptID: "7f3c2a9e1b8d4f60a5c3e2d1b0a9f8e7", MerchantID: "acme", ResourceType: "Product",
		DeliveryAt: time.Date(2026, 12, 2, 4, 25, 1, 123456789, time.UTC),
		Ops: []WorkOp{
			{ID: "01a208d6-a1b5-7860-9038-43cc8a40f0dc", Seq: 0, Key: "tshirt", Record: json.RawMessage(`{"key":"tshirt","name":{"en":"T"}}`)},
			{ID: "01a208d6-a1b5-7860-9038-43cc8a40f0dd", Seq: 1 << 30, Key: "k\u00e9", Record: json.RawMessage(" {\n\"key\": \"x\" } ")},
			{ID: "", Seq: 7, Key: "", Record: json.RawMessage(`{}`)},
		},
	}
}

// largeWork is a batch like those of a delivery: records that compress.
func largeWork() *WorkBatch {
	wb := sampleWork()
	wb.Ops = nil
	for i := 0; i < 250; i++ {
		key := fmt.Sprintf("p-%06d", i)
		rec := fmt.Sprintf(`{"key":%q,"productType":{"key":"apparel"},"name":{"en":"Shirt %d","de":"Hemd %d"},"masterVariant":{"sku":"%s-m","prices":[{"value":{"currencyCode":"EUR","centAmount":%d}}]}}`, key, i, i, key, 1000+i)
		wb.Ops = append(wb.Ops, WorkOp{ID: fmt.Sprintf("01a208d6-a1b5-7860-9038-%012d", i), Seq: i, Key: key, Record: json.RawMessage(rec)})
	}
	return wb
}

func TestWorkRoundTrip(t *testing.T) {
	t.Parallel()
	for _, wb := range []*WorkBatch{sampleWork(), {ReceiptID: "r", DeliveryAt: time.Unix(0, 0).UTC()}, largeWork()} {
		data := EncodeWork(nil, wb)
		require.LessOrEqual(t, len(data), WorkSize(wb))
		got, err := DecodeWork(data)
		require.NoError(t, err)
		require.Equal(t, wb.ReceiptID, got.ReceiptID)
		require.Equal(t, wb.MerchantID, got.MerchantID)
		require.Equal(t, wb.ResourceType, got.ResourceType)
		require.True(t, wb.DeliveryAt.Equal(got.DeliveryAt), "%s != %s", wb.DeliveryAt, got.DeliveryAt)
		require.Len(t, got.Ops, len(wb.Ops))
		for i, op := range wb.Ops {
			require.Equal(t, op.ID, got.Ops[i].ID)
			require.Equal(t, op.Seq, got.Ops[i].Seq)
			require.Equal(t, op.Key, got.Ops[i].Key)
			// The record travels byte for byte, whitespace included.
			require.Equal(t, string(op.Record), string(got.Ops[i].Record))
		}
	}
}

// A batch of records is sent compressed; a message that would not shrink
// is sent as it is.
func TestWorkCompresses(t *testing.T) {
	t.Parallel()
	wb := largeWork()
	data := EncodeWork(nil, wb)
	raw := encodeWorkRaw(nil, wb)
	require.Equal(t, byte(workVersionS2), data[1])
	require.Less(t, len(data), len(raw)/3, "compressed %d of %d bytes", len(data), len(raw))
	// Appending to a buffer keeps what it held.
	prefixed := EncodeWork([]byte("xy"), wb)
	require.Equal(t, "xy", string(prefixed[:2]))
	require.Equal(t, data, prefixed[2:])

	small := &WorkBatch{ReceiptID: "r"}
	require.Equal(t, encodeWorkRaw(nil, small), EncodeWork(nil, small))
}

// Messages of the earlier JSON form, still in a stream during an upgrade,
// are read as before.
func TestWorkDecodesJSON(t *testing.T) {
	t.Parallel()
	wb := sampleWork()
	data, err := json.Marshal(wb)
	require.NoError(t, err)
	got, err := DecodeWork(data)
	require.NoError(t, err)
	require.Equal(t, wb.ReceiptID, got.ReceiptID)
	require.Len(t, got.Ops, 3)
	require.JSONEq(t, string(wb.Ops[1].Record), string(got.Ops[1].Record))

	_, err = DecodeWork([]byte(`{"receiptId": 1`))
	require.ErrorIs(t, err, ErrBadWork)
}

// withFacts is wb with facts on every other operation.
func withFacts(wb *WorkBatch) *WorkBatch {
	for i := range wb.Ops {
		switch i % 3 {
		case 0:
			wb.Ops[i].Facts = &RecordFacts{Master: true, Refs: []FactRef{
				{TypeID: "product-type", Key: "apparel"}, {TypeID: "category", Key: "men"}, {TypeID: "product-variant", SKU: "s-1"}}}
		case 2:
			wb.Ops[i].Facts = &RecordFacts{}
		}
	}
	return wb
}

// Operations' facts travel with them, and only a message that has some is
// of the versions that carry them: the resolver's messages to the importer,
// which carry none, are read by every version of importd.
func TestWorkFacts(t *testing.T) {
	t.Parallel()
	for _, wb := range []*WorkBatch{withFacts(sampleWork()), withFacts(largeWork())} {
		data := EncodeWork(nil, wb)
		require.LessOrEqual(t, len(data), WorkSize(wb))
		require.Contains(t, []byte{workVersionFacts, workVersionFactsS2}, data[1])
		got, err := DecodeWork(data)
		require.NoError(t, err)
		require.Len(t, got.Ops, len(wb.Ops))
		for i, op := range wb.Ops {
			require.Equal(t, op.Facts, got.Ops[i].Facts, "operation %d", i)
			require.Equal(t, string(op.Record), string(got.Ops[i].Record))
		}
	}
	require.Equal(t, byte(workVersionFactsS2), EncodeWork(nil, withFacts(largeWork()))[1])
	require.Equal(t, byte(workVersionFacts), encodeWorkRaw(nil, withFacts(sampleWork()))[1])
	require.Contains(t, []byte{workMagic[1], workVersionS2}, EncodeWork(nil, sampleWork())[1])

	good := encodeWorkRaw(nil, withFacts(sampleWork()))
	for n := 0; n < len(good); n++ {
		_, err := DecodeWork(good[:n])
		require.ErrorIs(t, err, ErrBadWork, "truncated to %d bytes", n)
	}
	// The last operation's facts are empty: 1 (no reference), master 0.
	require.Equal(t, []byte{1, 0}, good[len(good)-2:])
	for name, tail := range map[string][]byte{"a reference missing": {2, 0}, "a bad master flag": {1, 7}} {
		bad := append(append([]byte(nil), good[:len(good)-2]...), tail...)
		_, err := DecodeWork(bad)
		require.ErrorIs(t, err, ErrBadWork, name)
	}
}

func TestWorkRefusesCorruptMessages(t *testing.T) {
	t.Parallel()
	good := encodeWorkRaw(nil, sampleWork())
	compressed := EncodeWork(nil, largeWork())
	for n := 0; n < len(compressed); n++ {
		_, err := DecodeWork(compressed[:n])
		require.ErrorIs(t, err, ErrBadWork, "compressed, truncated to %d bytes", n)
	}
	// Every truncation is refused (none is a shorter valid message: the
	// count says how many operations follow, each field its length).
	for n := 0; n < len(good); n++ {
		_, err := DecodeWork(good[:n])
		require.ErrorIs(t, err, ErrBadWork, "truncated to %d bytes", n)
	}
	for name, data := range map[string][]byte{
		"other version":          {0x00, 0x05},
		"empty s2 body":          {0x00, 0x02},
		"garbage s2 body":        {0x00, 0x02, 0x05, 0xff, 0xff, 0xff},
		"s2 over 64 MiB":         {0x00, 0x02, 0x80, 0x80, 0x80, 0x40, 0x00},
		"s2 then trailing bytes": append([]byte{0x00, 0x02}, s2.Encode(nil, append(encodeWorkRaw(nil, sampleWork())[2:], 'x'))...),
		"trailing bytes":         append(append([]byte(nil), good...), 'x'),
		"huge count":             append([]byte{0x00, 0x01, 0, 0, 0, 0}, 0xff, 0xff, 0xff, 0xff, 0x0f),
		"huge length":            {0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"overlong varint":        append([]byte{0x00, 0x01}, []byte(strings.Repeat("\xff", 11))...),
	} {
		_, err := DecodeWork(data)
		require.ErrorIs(t, err, ErrBadWork, name)
	}
	// A position beyond int32 (operations are numbered by int32 in the database).
	wb := sampleWork()
	wb.Ops[0].Seq = 1 << 31
	_, err := DecodeWork(EncodeWork(nil, wb))
	require.ErrorIs(t, err, ErrBadWork)
}

func FuzzDecodeWork(f *testing.F) {
	f.Add(EncodeWork(nil, sampleWork()))
	f.Add([]byte(`{"receiptId":"r","ops":[{"seq":1,"record":{}}]}`))
	f.Add([]byte{0x00, 0x01})
	f.Add(EncodeWork(nil, largeWork()))
	f.Add(encodeWorkRaw(nil, withFacts(sampleWork())))
	f.Fuzz(func(t *testing.T, data []byte) {
		wb, err := DecodeWork(data)
		if err != nil || data[0] != workMagic[0] {
			return
		}
		// What decodes survives encoding again (the bytes may differ: a
		// number may be written with more bytes than it needs).
		again, err := DecodeWork(EncodeWork(nil, &wb))
		require.NoError(t, err)
		require.Equal(t, wb.DeliveryAt.UnixNano(), again.DeliveryAt.UnixNano())
		wb.DeliveryAt, again.DeliveryAt = time.Time{}, time.Time{}
		for i := range wb.Ops {
			if len(wb.Ops[i].Record) == 0 {
				wb.Ops[i].Record = nil
			}
			if len(again.Ops[i].Record) == 0 {
				again.Ops[i].Record = nil
			}
		}
		require.Equal(t, wb, again)
	})
}

func BenchmarkWork(b *testing.B) {
	wb := &WorkBatch{ReceiptID: "bench-receipt-0001", MerchantID: "bench", ResourceType: "Product", DeliveryAt: time.Now().UTC()}
	rec := json.RawMessage(`{"key":"p-000001","productType":{"key":"apparel"},"name":{"en":"` + strings.Repeat("n", 1500) + `"}}`)
	for i := 0; i < 250; i++ {
		wb.Ops = append(wb.Ops, WorkOp{ID: "01a208d6-a1b5-7860-9038-43cc8a40f0dc", Seq: i, Key: "p-000001", Record: rec})
	}
	for _, c := range []struct {
		name   string
		encode func() []byte
		decode func([]byte) error
	}{
		{"binary", func() []byte { return EncodeWork(nil, wb) }, func(d []byte) error { _, err := DecodeWork(d); return err }},
		{"uncompressed", func() []byte { return encodeWorkRaw(nil, wb) }, func(d []byte) error { _, err := DecodeWork(d); return err }},
		{"json", func() []byte { d, _ := json.Marshal(wb); return d }, func(d []byte) error { var w WorkBatch; return json.Unmarshal(d, &w) }},
	} {
		data := c.encode()
		b.Run(c.name+"/encode", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				c.encode()
			}
		})
		b.Run(c.name+"/decode", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := c.decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestWorkMsgIDNamesEveryOperation(t *testing.T) {
	ops := func(seqs ...int) []WorkOp {
		out := make([]WorkOp, len(seqs))
		for i, s := range seqs {
			out[i] = WorkOp{Seq: s, Key: fmt.Sprintf("k%d", s)}
		}
		return out
	}
	id := WorkMsgID("r1", "resolve", ops(195, 196, 197, 198, 199))
	require.Equal(t, id, WorkMsgID("r1", "resolve", ops(195, 196, 197, 198, 199)), "the same message published again")
	for _, other := range []string{
		WorkMsgID("r1", "resolve", ops(195, 196, 197, 198, 199, 200)), // cut differently: the same first operation, one more
		WorkMsgID("r1", "resolve", ops(195, 196, 197, 198, 200)),
		WorkMsgID("r1", "apply", ops(195, 196, 197, 198, 199)),
		WorkMsgID("r2", "resolve", ops(195, 196, 197, 198, 199)),
	} {
		require.NotEqual(t, id, other)
	}
	require.True(t, strings.HasPrefix(id, "r1.195.resolve."), id)
}

// incompressibleWork is a batch of n records of size bytes each that S2
// cannot shrink: their messages are sent as they are, so their encoded size
// is exact and the boundaries below are too.
func incompressibleWork(n, size int) *WorkBatch {
	wb := sampleWork()
	wb.Ops = nil
	rng := rand.New(rand.NewSource(int64(n*7919 + size)))
	for i := 0; i < n; i++ {
		rec := make([]byte, size)
		rng.Read(rec)
		wb.Ops = append(wb.Ops, WorkOp{ID: fmt.Sprintf("01a208d6-a1b5-7860-9038-%012d", i), Seq: i, Key: fmt.Sprintf("k%d", i), Record: rec})
	}
	return wb
}

// encodedLen is the size of the message carrying ops of wb.
func encodedLen(wb *WorkBatch, ops []WorkOp) int {
	part := *wb
	part.Ops = ops
	return len(EncodeWork(nil, &part))
}

// requireCut checks that msgs and tooLarge hold every operation of wb once,
// in order, that each message decodes to its operations and is within the
// limits, and returns the positions of each message.
func requireCut(t *testing.T, wb *WorkBatch, msgs []WorkMessage, tooLarge []WorkOp, maxOps, maxBytes int) [][]int {
	t.Helper()
	var cut [][]int
	seen := map[int]bool{}
	for _, m := range msgs {
		require.LessOrEqual(t, len(m.Data), maxBytes)
		require.LessOrEqual(t, len(m.Ops), maxOps)
		got, err := DecodeWork(m.Data)
		require.NoError(t, err)
		require.Equal(t, wb.ReceiptID, got.ReceiptID)
		require.Equal(t, wb.ResourceType, got.ResourceType)
		require.Len(t, got.Ops, len(m.Ops))
		var seqs []int
		for i, op := range m.Ops {
			require.Equal(t, op.Seq, got.Ops[i].Seq)
			require.Equal(t, string(op.Record), string(got.Ops[i].Record))
			seqs = append(seqs, op.Seq)
			seen[op.Seq] = true
		}
		cut = append(cut, seqs)
	}
	for _, op := range tooLarge {
		require.False(t, seen[op.Seq], "op %d both sent and too large", op.Seq)
		seen[op.Seq] = true
	}
	require.Len(t, seen, len(wb.Ops))
	return cut
}

func TestCutWorkBoundary(t *testing.T) {
	t.Parallel()
	wb := incompressibleWork(3, 20<<10)
	pair := encodedLen(wb, wb.Ops[:2])
	all := encodedLen(wb, wb.Ops)

	// All three fit exactly: one message.
	msgs, tooLarge := CutWork(wb, 0, all)
	require.Empty(t, tooLarge)
	require.Equal(t, [][]int{{0, 1, 2}}, requireCut(t, wb, msgs, tooLarge, MaxWorkOps, all))

	// One byte less and the sum crosses the limit: the third goes alone.
	msgs, tooLarge = CutWork(wb, 0, all-1)
	require.Empty(t, tooLarge)
	require.Equal(t, [][]int{{0, 1}, {2}}, requireCut(t, wb, msgs, tooLarge, MaxWorkOps, all-1))

	// Two fit exactly.
	msgs, tooLarge = CutWork(wb, 0, pair)
	require.Empty(t, tooLarge)
	require.Equal(t, [][]int{{0, 1}, {2}}, requireCut(t, wb, msgs, tooLarge, MaxWorkOps, pair))
	msgs, tooLarge = CutWork(wb, 0, pair-1)
	require.Empty(t, tooLarge)
	require.Equal(t, [][]int{{0}, {1}, {2}}, requireCut(t, wb, msgs, tooLarge, MaxWorkOps, pair-1))
}

func TestCutWorkAlone(t *testing.T) {
	t.Parallel()
	wb := incompressibleWork(3, 20<<10)
	big := make([]byte, 100<<10)
	rand.New(rand.NewSource(1)).Read(big)
	wb.Ops[1].Record = big
	alone := encodedLen(wb, wb.Ops[1:2])

	// A record alone just at the limit travels alone.
	msgs, tooLarge := CutWork(wb, 0, alone)
	require.Empty(t, tooLarge)
	require.Equal(t, [][]int{{0}, {1}, {2}}, requireCut(t, wb, msgs, tooLarge, MaxWorkOps, alone))

	// One byte over, it is reported and the others go on.
	msgs, tooLarge = CutWork(wb, 0, alone-1)
	require.Len(t, tooLarge, 1)
	require.Equal(t, 1, tooLarge[0].Seq)
	require.Equal(t, [][]int{{0}, {2}}, requireCut(t, wb, msgs, tooLarge, MaxWorkOps, alone-1))

	// A record at ingest's record size limit that does not compress fits
	// alone under the NATS server's default max payload.
	limit := 1<<20 - WorkHeaderRoom
	atLimit := incompressibleWork(3, 512<<10)
	msgs, tooLarge = CutWork(atLimit, 0, limit)
	require.Empty(t, tooLarge)
	require.Equal(t, [][]int{{0}, {1}, {2}}, requireCut(t, atLimit, msgs, tooLarge, MaxWorkOps, limit))

	// Nothing fits: every operation is reported.
	msgs, tooLarge = CutWork(wb, 0, 100)
	require.Empty(t, msgs)
	require.Len(t, tooLarge, 3)
}

// The limit is on the encoded size: records that compress travel many to a
// message though their sum is over the limit; and never more than maxOps.
func TestCutWorkEncodedAndCount(t *testing.T) {
	t.Parallel()
	wb := largeWork()
	raw := 0
	for i := range wb.Ops {
		raw += len(wb.Ops[i].Record)
	}
	limit := raw / 2
	msgs, tooLarge := CutWork(wb, 0, limit)
	require.Empty(t, tooLarge)
	require.Len(t, requireCut(t, wb, msgs, tooLarge, MaxWorkOps, limit), 1)

	msgs, tooLarge = CutWork(wb, 100, 1<<20)
	require.Empty(t, tooLarge)
	cut := requireCut(t, wb, msgs, tooLarge, 100, 1<<20)
	require.Len(t, cut, 3)
	require.Len(t, cut[2], 50)

	// Many records over the limit together: cut in as many messages as it takes.
	wb = incompressibleWork(300, 20<<10)
	msgs, tooLarge = CutWork(wb, 0, 1<<20-WorkHeaderRoom)
	require.Empty(t, tooLarge)
	cut = requireCut(t, wb, msgs, tooLarge, MaxWorkOps, 1<<20-WorkHeaderRoom)
	require.Len(t, cut, 6) // 300 × 20 KiB = 6,000 KiB in messages under 1 MiB
}
