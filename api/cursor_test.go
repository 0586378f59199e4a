package api

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/tracking"
)

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	d := &tracking.Delivery{ReceiptID: "receipt-1", AcceptedAt: time.Date(2026, 5, 1, 12, 0, 0, 123456000, time.UTC)}
	c, err := decodeCursor(importsCursor(d).encode(), cursorImports)
	require.NoError(t, err)
	require.Equal(t, d.AcceptedAt, c.acceptedAt())
	require.Equal(t, "receipt-1", c.Receipt)

	ops := cursor{Kind: cursorOperations, Receipt: "receipt-1", Seq: 0}.encode()
	c, err = decodeCursor(ops, cursorOperations)
	require.NoError(t, err)
	require.Equal(t, 0, c.Seq)
	_, err = decodeCursor(ops, cursorImports)
	require.ErrorIs(t, err, ErrBadCursor, "a cursor of another list")

	for _, bad := range []cursor{
		{Kind: cursorImports, Receipt: "receipt-1"},                               // no time
		{Kind: cursorImports, Accepted: 1, Receipt: "bad receipt"},                // invalid receipt
		{Kind: cursorOperations, Receipt: "receipt-1", Seq: -1},                   // negative position
		{Kind: "other", Accepted: 1, Receipt: "receipt-1"},                        // unknown kind
		{Kind: cursorOperations, Receipt: "receipt-1" + string(make([]byte, 64))}, // too long
	} {
		for _, kind := range []string{cursorImports, cursorOperations} {
			_, err := decodeCursor(bad.encode(), kind)
			require.ErrorIs(t, err, ErrBadCursor, "%+v", bad)
		}
	}
}

// FuzzDecodeCursor: any string decodes to a valid cursor or ErrBadCursor,
// and a decoded cursor encodes back to a cursor that decodes the same.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(cursor{Kind: cursorImports, Accepted: 1714564800000000, Receipt: "receipt-1"}.encode())
	f.Add(cursor{Kind: cursorOperations, Receipt: "receipt-1", Seq: 42}.encode())
	f.Add("")
	f.Add("e30")
	f.Fuzz(func(t *testing.T, s string) {
		for _, kind := range []string{cursorImports, cursorOperations} {
			c, err := decodeCursor(s, kind)
			if err != nil {
				require.ErrorIs(t, err, ErrBadCursor)
				continue
			}
			again, err := decodeCursor(c.encode(), kind)
			require.NoError(t, err)
			require.Equal(t, c, again)
		}
	})
}
