package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/tracking"
)

// ErrBadCursor means a ?cursor= value is not one this service handed out
// for the list it is used on: undecodable, altered, or from another list.
var ErrBadCursor = errors.New("tracking: invalid cursor")

// Cursor kinds: a cursor of one list is refused by another.
const (
	cursorImports    = "imports"
	cursorOperations = "operations"
	cursorHistory    = "history"
)

// cursor is the position after the last item of a page: the sort key of
// that item. For GET /v1/imports the key is (acceptedAt, receipt); for the
// operations of a delivery it is the receipt and the position (seq); for a
// record's history, the time and tracking id of its last event.
type cursor struct {
	Kind     string `json:"k"`
	Accepted int64  `json:"t,omitempty"` // microseconds since the epoch
	Receipt  string `json:"r"`
	Seq      int    `json:"s,omitempty"`
	ID       string `json:"i,omitempty"` // a tracking id, of a history's last event
}

// cursorSum is the length of the checksum that ends an encoded cursor. It
// detects a cursor altered by hand or in transit; it is no secret (the
// position in a list is not confidential: every query is scoped anyway).
const cursorSum = 8

func cursorChecksum(payload []byte) []byte {
	h := sha256.New()
	h.Write([]byte("importd cursor v1\x00"))
	h.Write(payload)
	return h.Sum(nil)[:cursorSum]
}

// encode returns the opaque form: base64url of the JSON and its checksum.
func (c cursor) encode() string {
	payload, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(append(payload, cursorChecksum(payload)...))
}

// decodeCursor parses an opaque cursor of the given kind.
func decodeCursor(s, kind string) (cursor, error) {
	var c cursor
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) <= cursorSum || len(s) > 512 {
		return c, ErrBadCursor
	}
	payload, sum := raw[:len(raw)-cursorSum], raw[len(raw)-cursorSum:]
	if !bytes.Equal(sum, cursorChecksum(payload)) {
		return c, ErrBadCursor
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return cursor{}, ErrBadCursor
	}
	if c.Kind != kind || !bus.ValidReceipt(c.Receipt) || c.Seq < 0 {
		return cursor{}, ErrBadCursor
	}
	if (kind == cursorImports || kind == cursorHistory) && c.Accepted <= 0 {
		return cursor{}, ErrBadCursor
	}
	return c, nil
}

func importsCursor(d *tracking.Delivery) cursor {
	return cursor{Kind: cursorImports, Accepted: d.AcceptedAt.UnixMicro(), Receipt: d.ReceiptID}
}

func (c cursor) acceptedAt() time.Time { return time.UnixMicro(c.Accepted).UTC() }
