package bus

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go"
)

// WorkBatch is the body of a message on IMPORT_WORK: operations of one
// delivery on their way to the resolver (import.work.resolve.<merchant>) or the
// importer (import.work.apply.<merchant>). One message carries many operations
// so that every stage fetches, writes and acknowledges in batches; each
// operation is still tracked, and made idempotent, on its own.
//
// IMPORT_WORK is internal: its messages are written by
// EncodeWork and read by DecodeWork, a length-prefixed binary form in which
// the records travel as they are: as JSON every record would be validated
// again on decode and compacted again on encode, though no stage reads it
// there. The JSON tags are those of the earlier JSON form, which DecodeWork
// still reads.
type WorkBatch struct {
	ReceiptID    string    `json:"receiptId"`
	MerchantID   string    `json:"merchantId"`
	DeliveryAt   time.Time `json:"deliveryAt"`
	ResourceType string    `json:"resourceType"`
	Ops          []WorkOp  `json:"ops"`
}

// WorkOp is one operation in a WorkBatch.
type WorkOp struct {
	ID     string          `json:"id"`
	Seq    int             `json:"seq"`
	Key    string          `json:"key"`
	Record json.RawMessage `json:"record"`
	// Facts are what validating the record taught its producer, or nil.
	Facts *RecordFacts `json:"-"`
}

// RecordFacts are what ingest learned of a record when it validated it,
// carried to the resolver so that it need not parse and validate the
// record again to find them: whether it is (a ProductVariant) or has (a
// Product) a master variant, and its references as catalog.Validate
// reports them.
type RecordFacts struct {
	Master bool
	Refs   []FactRef
}

// FactRef is one reference of RecordFacts: a typeId and a key or a sku.
type FactRef struct {
	TypeID, Key, SKU string
}

// WorkMsgID is the Nats-Msg-Id of a work message of a delivery to the
// given stage ("resolve", "apply"): it names the operations the message
// carries, all of them, so that the same message published again is
// dropped by JetStream as a duplicate while a message cut differently is
// not. Named by its first operation alone, a message carrying more than one
// stored earlier (a republish after two crashes cuts the records of two
// batches anew) was dropped, and the operations it added were never
// resolved.
func WorkMsgID(receipt, stage string, ops []WorkOp) string {
	h := fnv.New64a()
	var b [8]byte
	for _, op := range ops {
		binary.LittleEndian.PutUint64(b[:], uint64(op.Seq))
		h.Write(b[:])
	}
	first := -1
	if len(ops) > 0 {
		first = ops[0].Seq
	}
	return fmt.Sprintf("%s.%d.%s.%d.%016x", receipt, first, stage, len(ops), h.Sum64())
}

// workMagic starts a binary work message: a byte no JSON text starts with,
// then the version of the form: 1 as below, 2 the same after the magic
// compressed as one S2 block; 3 and 4 are 1 and 2 with each operation's
// facts after its record.
var workMagic = [2]byte{0x00, 0x01}

// The version bytes of the other forms.
const (
	workVersionS2      = 0x02
	workVersionFacts   = 0x03
	workVersionFactsS2 = 0x04
)

// maxWorkDecoded bounds what a compressed work message may expand to: the
// largest message NATS can carry.
const maxWorkDecoded = 64 << 20

// ErrBadWork reports a work message DecodeWork cannot read.
var ErrBadWork = errors.New("bus: unreadable work message")

// ErrWorkVersion reports, with ErrBadWork, a work message of a version
// newer than this one: written by a newer importd, which may read it.
var ErrWorkVersion = errors.New("bus: work message of a newer version")

// WorkSize is the size of wb's encoding, at most: what EncodeWork appends.
func WorkSize(wb *WorkBatch) int {
	n := len(workMagic) + 4*binary.MaxVarintLen64 + len(wb.ReceiptID) + len(wb.MerchantID) + len(wb.ResourceType) + binary.MaxVarintLen64
	for i := range wb.Ops {
		n += WorkOpSize(&wb.Ops[i])
	}
	return n
}

// WorkOpSize is the most one operation adds to a work message.
func WorkOpSize(op *WorkOp) int {
	n := 5*binary.MaxVarintLen64 + len(op.ID) + len(op.Key) + len(op.Record)
	if f := op.Facts; f != nil {
		n++
		for _, r := range f.Refs {
			n += 3*binary.MaxVarintLen64 + len(r.TypeID) + len(r.Key) + len(r.SKU)
		}
	}
	return n
}

// EncodeWork appends the encoding of wb to b and returns it:
//
//	0x00 0x01                               magic and version
//	receiptId, merchantId, resourceType     each a uvarint length and the bytes
//	deliveryAt                              varint, nanoseconds since the Unix epoch
//	count                                   uvarint
//	count × (id, uvarint seq, key, record)  strings as above; the record as it was read
//
// or, when that is smaller, 0x00 0x02 and the same fields compressed as one
// S2 block. Records of a delivery compress well, and every byte a work
// message saves is a byte the NATS server does not copy, hash, write and
// read back twice (each record crosses IMPORT_WORK twice).
//
// When an operation has facts, the versions are 3 and 4, and each
// operation's record is followed by its facts:
//
//	uvarint                                 0: none; else 1 + the number of references
//	master                                  one byte, 0 or 1
//	references × (typeId, key, sku)         strings as above
//
// so that a message without facts is read by every version of importd.
func EncodeWork(b []byte, wb *WorkBatch) []byte {
	raw := encodeWorkRaw(make([]byte, 0, WorkSize(wb)), wb)
	body := raw[len(workMagic):]
	n := len(b)
	b = append(b, workMagic[0], workVersionS2)
	if raw[1] == workVersionFacts {
		b[n+1] = workVersionFactsS2
	}
	b = append(b, make([]byte, s2.MaxEncodedLen(len(body)))...)
	enc := s2.Encode(b[n+2:], body)
	if 2+len(enc) >= len(raw) {
		return append(b[:n], raw...)
	}
	return b[:n+2+len(enc)]
}

// MaxWorkOps is the most operations one work message carries: each stage
// locks and writes a message's operations in one transaction.
const MaxWorkOps = 250

// WorkHeaderRoom is the part of the connection's max payload a work
// message leaves to its subject and headers (a Nats-Msg-Id of about 100
// bytes): NATS counts headers against the max payload.
const WorkHeaderRoom = 4 << 10

// MaxWorkBytes is the largest encoded work message nc can publish: the
// server's max payload less WorkHeaderRoom. It is read at each call, since
// a reconnect may land on a server with another limit.
func MaxWorkBytes(nc *nats.Conn) int {
	return int(nc.MaxPayload()) - WorkHeaderRoom
}

// WorkMessage is one work message CutWork cut: its operations, and their
// encoding to publish as the message body.
type WorkMessage struct {
	Ops  []WorkOp
	Data []byte
}

// CutWork cuts wb's operations, in order, into work messages of at most
// maxOps operations (MaxWorkOps when maxOps <= 0) whose encoding is at most
// maxBytes (MaxWorkBytes of the connection the caller publishes on). It
// returns the messages, encoded, and apart the operations whose encoding
// is over maxBytes even alone: no message can carry them, and the caller
// rejects them rather than publish them for ever.
//
// Every producer of work messages cuts through CutWork: NATS refuses a
// message over its max payload, and a message refused is refused again at
// every retry. The size that counts is the encoded one (records compress),
// so a chunk that encodes too large is cut shorter in proportion until it
// fits, down to one operation.
func CutWork(wb *WorkBatch, maxOps, maxBytes int) (msgs []WorkMessage, tooLarge []WorkOp) {
	if maxOps <= 0 {
		maxOps = MaxWorkOps
	}
	part := *wb
	ops := wb.Ops
	for len(ops) > 0 {
		n := min(len(ops), maxOps)
		for {
			part.Ops = ops[:n:n]
			data := EncodeWork(nil, &part)
			if len(data) <= maxBytes {
				msgs = append(msgs, WorkMessage{Ops: part.Ops, Data: data})
				break
			}
			if n == 1 {
				tooLarge = append(tooLarge, ops[0])
				break
			}
			n = max(1, min(n-1, int(int64(n)*int64(maxBytes)/int64(len(data)))))
		}
		ops = ops[n:]
	}
	return msgs, tooLarge
}

// encodeWorkRaw appends the uncompressed form of wb to b: version 1, or 3
// when an operation has facts.
func encodeWorkRaw(b []byte, wb *WorkBatch) []byte {
	facts := false
	for i := range wb.Ops {
		facts = facts || wb.Ops[i].Facts != nil
	}
	b = append(b, workMagic[:]...)
	if facts {
		b[len(b)-1] = workVersionFacts
	}
	b = appendString(b, wb.ReceiptID)
	b = appendString(b, wb.MerchantID)
	b = appendString(b, wb.ResourceType)
	b = binary.AppendVarint(b, wb.DeliveryAt.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(wb.Ops)))
	for i := range wb.Ops {
		op := &wb.Ops[i]
		b = appendString(b, op.ID)
		b = binary.AppendUvarint(b, uint64(op.Seq))
		b = appendString(b, op.Key)
		b = binary.AppendUvarint(b, uint64(len(op.Record)))
		b = append(b, op.Record...)
		if facts {
			b = appendFacts(b, op.Facts)
		}
	}
	return b
}

func appendFacts(b []byte, f *RecordFacts) []byte {
	if f == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(1+len(f.Refs)))
	if f.Master {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	for _, r := range f.Refs {
		b = appendString(b, r.TypeID)
		b = appendString(b, r.Key)
		b = appendString(b, r.SKU)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// DecodeWork reads a work message written by EncodeWork, or by the JSON form
// of earlier versions. The records of the result share data's memory (or,
// for a compressed message, the memory it was expanded into). Every length
// is checked against what is left of data, and a compressed message may not
// claim more than 64 MiB, so a corrupt or hostile message is an ErrBadWork,
// never a panic or a large allocation.
func DecodeWork(data []byte) (WorkBatch, error) {
	var wb WorkBatch
	if len(data) > 0 && data[0] != workMagic[0] {
		if err := json.Unmarshal(data, &wb); err != nil {
			return WorkBatch{}, fmt.Errorf("%w: %w", ErrBadWork, err)
		}
		return wb, nil
	}
	if len(data) < len(workMagic) || data[1] < workMagic[1] || data[1] > workVersionFactsS2 {
		if len(data) >= len(workMagic) && data[1] > workVersionFactsS2 {
			return WorkBatch{}, fmt.Errorf("%w: %w: version %d, this one reads %d to %d", ErrBadWork, ErrWorkVersion, data[1], workMagic[1], workVersionFactsS2)
		}
		return WorkBatch{}, fmt.Errorf("%w: not a work message of version %d to %d", ErrBadWork, workMagic[1], workVersionFactsS2)
	}
	body := data[len(workMagic):]
	facts := data[1] == workVersionFacts || data[1] == workVersionFactsS2
	if data[1] == workVersionS2 || data[1] == workVersionFactsS2 {
		n, err := s2.DecodedLen(body)
		if err == nil && n > maxWorkDecoded {
			err = fmt.Errorf("expands to %d bytes, more than %d", n, maxWorkDecoded)
		}
		if err == nil {
			body, err = s2.Decode(make([]byte, n), body)
		}
		if err != nil {
			return WorkBatch{}, fmt.Errorf("%w: %w", ErrBadWork, err)
		}
	}
	r := workReader{b: body}
	wb.ReceiptID = r.string()
	wb.MerchantID = r.string()
	wb.ResourceType = r.string()
	at := r.varint()
	n := r.uvarint()
	// An operation takes at least four bytes: no count can claim more.
	if r.err == nil && n > uint64(len(r.b)/4) {
		r.err = fmt.Errorf("%d operations in %d bytes", n, len(r.b))
	}
	if r.err == nil {
		wb.DeliveryAt = time.Unix(0, at).UTC()
		wb.Ops = make([]WorkOp, n)
		for i := range wb.Ops {
			op := &wb.Ops[i]
			op.ID = r.string()
			seq := r.uvarint()
			if seq > 1<<31-1 && r.err == nil {
				r.err = fmt.Errorf("position %d out of range", seq)
			}
			op.Seq = int(seq)
			op.Key = r.string()
			op.Record = r.bytes()
			if facts {
				op.Facts = r.facts()
			}
		}
	}
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes after the last operation", len(r.b))
	}
	if r.err != nil {
		return WorkBatch{}, fmt.Errorf("%w: %w", ErrBadWork, r.err)
	}
	return wb, nil
}

// workReader reads the fields of a binary work message; the first error
// sticks and every later read returns zero values.
type workReader struct {
	b   []byte
	err error
}

func (r *workReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errors.New("truncated or overlong number")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *workReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errors.New("truncated or overlong number")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *workReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("field of %d bytes with %d left", n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *workReader) string() string { return string(r.bytes()) }

func (r *workReader) facts() *RecordFacts {
	n := r.uvarint()
	if r.err != nil || n == 0 {
		return nil
	}
	// A reference takes at least three bytes, the master flag one.
	if n-1 > uint64(len(r.b)/3) {
		r.err = fmt.Errorf("%d references in %d bytes", n-1, len(r.b))
		return nil
	}
	f := &RecordFacts{}
	if len(r.b) == 0 || r.b[0] > 1 {
		r.err = errors.New("bad master flag")
		return nil
	}
	f.Master = r.b[0] == 1
	r.b = r.b[1:]
	if n > 1 {
		f.Refs = make([]FactRef, n-1)
		for i := range f.Refs {
			f.Refs[i] = FactRef{TypeID: r.string(), Key: r.string(), SKU: r.string()}
		}
	}
	return f
}
