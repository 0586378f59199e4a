package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// jsonDecoder decodes a body holding one JSON array of objects without
// decoding the array as a whole: a byte-level scanner finds where each
// top-level element begins and ends, and each element is then validated on
// its own. A malformed element is one MALFORMED_RECORD and decoding resumes
// after it; an element over MaxRecordBytes is scanned to its end without being
// kept.
//
// Boundary rule. Outside strings (a string runs from an unescaped '"' to the
// next unescaped '"'), the scanner keeps a stack of the brackets open in the
// element: '{' and '[' push; '}' or ']' pops down to and including its
// matching opener, or one level when no matching opener is open. At level 0,
// ']' closes the array and a stray '}' is part of the element. An element ends
// at the first ',' or ']' at level 0. A mismatched closer ({"a":[}) therefore
// still closes the element it belongs to and costs that element only; an
// unterminated string or a missing closer runs on into the elements that
// follow (they are lost in one malformed element, or the array ends
// truncated). Only the first MaxDepth+1 levels are kept on the stack; deeper
// ones are counted, and such an element is malformed anyway.
type jsonDecoder struct {
	src      chunkReader
	cfg      DecoderConfig
	state    jsonState
	line     int    // line of the next unread byte
	index    int    // index of the next record
	elem     []byte // the current element, at most MaxRecordBytes
	over     bool   // the current element is over MaxRecordBytes
	open     []byte // brackets open in the current element, at most MaxDepth+1
	extra    int    // brackets open beyond those in open
	inString bool   // the scanner is inside a string
	escaped  bool   // the scanner is just after a backslash in a string
	err      error  // terminal error, returned by every later call
}

// jsonState is where the scanner stands in the array.
type jsonState int

const (
	jsonBeforeArray jsonState = iota // nothing read yet
	jsonFirst                        // after '[': an element or ']' follows
	jsonNext                         // after ',': an element follows
	jsonAfterArray                   // after the closing ']': only whitespace may follow
)

// jsonChunkSize is the size of the jsonDecoder's read buffer.
const jsonChunkSize = 64 << 10

func newJSONDecoder(r io.Reader, cfg DecoderConfig) *jsonDecoder {
	return &jsonDecoder{src: chunkReader{r: r, buf: make([]byte, jsonChunkSize)}, cfg: cfg, line: 1}
}

// Next returns the next element of the array as a record.
func (d *jsonDecoder) Next() (RawRecord, error) {
	if d.err != nil {
		return RawRecord{}, d.err
	}
	rec, err := d.next()
	if err != nil {
		d.err = err
	}
	return rec, err
}

func (d *jsonDecoder) next() (RawRecord, error) {
	if d.state == jsonBeforeArray {
		if err := d.openArray(); err != nil {
			return RawRecord{}, err
		}
	}
	if d.state == jsonAfterArray {
		return RawRecord{}, d.endOfBody()
	}
	if err := d.skipSpace(); err != nil {
		return RawRecord{}, d.truncated(err)
	}
	return d.element()
}

// openArray reads an optional BOM, whitespace and the array's '['.
func (d *jsonDecoder) openArray() error {
	if d.skipBOM() {
		return d.malformedContainer("body starts with an incomplete byte order mark")
	}
	if err := d.skipSpace(); err == io.EOF {
		return io.EOF // an empty body holds no record, in every format
	} else if err != nil {
		return d.readError(err)
	}
	if b := d.src.peek(); b != '[' {
		return d.malformedContainer(fmt.Sprintf("body is not a JSON array: it starts with %q", b))
	}
	d.src.pos++
	d.state = jsonFirst
	return nil
}

// skipBOM consumes a UTF-8 byte order mark, which may arrive split across
// reads, and reports whether the body starts with only part of one.
func (d *jsonDecoder) skipBOM() (partial bool) {
	for i, want := range utf8BOM {
		if !d.src.fill() || d.src.peek() != want {
			return i > 0
		}
		d.src.pos++
	}
	return false
}

// skipSpace consumes whitespace up to the next byte, which is then buffered;
// at the end of the body it returns io.EOF, or the reader's error.
func (d *jsonDecoder) skipSpace() error {
	for d.src.fill() {
		for i, b := range d.src.buffered() {
			if !isJSONSpace(b) {
				d.src.pos += i
				return nil
			}
			if b == '\n' {
				d.line++
			}
		}
		d.src.pos = d.src.end
	}
	return d.src.err
}

// element reads the element starting at the next byte and the separator after it.
func (d *jsonDecoder) element() (RawRecord, error) {
	start, index := d.line, d.index
	if b := d.src.peek(); b == ',' || b == ']' {
		if b == ']' && d.state == jsonFirst { // empty array
			d.src.pos++
			d.state = jsonAfterArray
			return RawRecord{}, d.endOfBody()
		}
		d.separator(b)
		d.index++
		return RawRecord{Index: index, Line: start, Err: malformedErr(start, "empty array element")}, nil
	}
	sep, err := d.scanElement()
	if err != nil {
		return RawRecord{}, d.truncated(err)
	}
	d.separator(sep)
	d.index++
	if d.over {
		return RawRecord{Index: index, Line: start, Err: tooLargeErr(start, d.cfg.MaxRecordBytes)}, nil
	}
	return objectRecord(index, start, trimJSONSpace(d.elem), d.cfg.MaxDepth), nil
}

// separator consumes the ',' or ']' after an element.
func (d *jsonDecoder) separator(b byte) {
	d.src.pos++
	if b == ']' {
		d.state = jsonAfterArray
	} else {
		d.state = jsonNext
	}
}

// scanElement consumes one element up to the separator that ends it, which it
// returns unconsumed, keeping the element's bytes in d.elem.
func (d *jsonDecoder) scanElement() (byte, error) {
	d.elem, d.over = d.elem[:0], false
	d.open, d.extra = d.open[:0], 0
	d.inString, d.escaped = false, false
	for d.src.fill() {
		chunk := d.src.buffered()
		if end := d.scan(chunk); end >= 0 {
			d.keep(chunk[:end])
			d.src.pos += end
			return chunk[end], nil
		}
		d.keep(chunk)
		d.src.pos = d.src.end
	}
	return 0, d.src.err
}

// Bytes the scanner must look at inside and outside strings.
var (
	stringSpecial = [256]bool{'"': true, '\\': true, '\n': true}
	structural    = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true, ',': true, '\n': true}
)

// scan advances the scanner over chunk and returns the index of the
// separator ending the element, or -1 when the element goes on.
func (d *jsonDecoder) scan(chunk []byte) int {
	for i := 0; i < len(chunk); i++ {
		b := chunk[i]
		switch {
		case d.escaped:
			d.escaped = false
		case d.inString:
			for !stringSpecial[b] {
				if i++; i == len(chunk) {
					return -1
				}
				b = chunk[i]
			}
			d.inString = b != '"'
			d.escaped = b == '\\'
		case !structural[b]:
			continue
		case d.boundary(b):
			return i
		}
		if b == '\n' {
			d.line++
		}
	}
	return -1
}

// boundary tracks byte b, met outside a string, and reports whether it ends
// the element.
func (d *jsonDecoder) boundary(b byte) bool {
	switch b {
	case '"':
		d.inString = true
	case '{', '[':
		d.push(b)
	case '}', ']':
		if len(d.open)+d.extra > 0 {
			d.pop(b)
			return false
		}
		return b == ']'
	case ',':
		return len(d.open)+d.extra == 0
	}
	return false
}

func (d *jsonDecoder) push(opener byte) {
	if len(d.open) <= d.cfg.MaxDepth {
		d.open = append(d.open, opener)
	} else {
		d.extra++
	}
}

// pop closes the innermost open bracket matching closer, with every bracket
// opened after it; with none open, it closes the innermost bracket.
func (d *jsonDecoder) pop(closer byte) {
	if d.extra > 0 {
		d.extra--
		return
	}
	opener := byte('{')
	if closer == ']' {
		opener = '['
	}
	if i := bytes.LastIndexByte(d.open, opener); i >= 0 {
		d.open = d.open[:i]
	} else {
		d.open = d.open[:len(d.open)-1]
	}
}

// keep appends p to the current element while it stays within
// MaxRecordBytes. Whitespace past the limit is dropped (it may be trailing);
// anything else past the limit makes the element too large.
func (d *jsonDecoder) keep(p []byte) {
	if d.over {
		return
	}
	room := d.cfg.MaxRecordBytes - len(d.elem)
	if len(p) > room {
		if !isJSONBlank(p[room:]) {
			d.over = true
			return
		}
		p = p[:room]
	}
	d.elem = append(growBuffer(d.elem, len(p), d.cfg.MaxRecordBytes), p...)
}

// growBuffer makes room for n more bytes in buf, doubling its capacity up to
// limit (append grows large slices by a quarter, which allocates about five
// times their final size along the way).
func growBuffer(buf []byte, n, limit int) []byte {
	if len(buf)+n <= cap(buf) {
		return buf
	}
	c := min(max(2*cap(buf), len(buf)+n, 512), max(limit, len(buf)+n))
	grown := make([]byte, len(buf), c)
	copy(grown, buf)
	return grown
}

// endOfBody checks that only whitespace follows the closing ']'.
func (d *jsonDecoder) endOfBody() error {
	switch err := d.skipSpace(); {
	case err == io.EOF:
		return io.EOF
	case err != nil:
		return d.readError(err)
	}
	return d.malformedContainer(fmt.Sprintf("unexpected %q after the end of the array", d.src.peek()))
}

// truncated converts the end of the body inside the array into an error.
func (d *jsonDecoder) truncated(err error) error {
	if err == io.EOF {
		return d.malformedContainer("body ends before the closing ']' of the array")
	}
	return d.readError(err)
}

func (d *jsonDecoder) malformedContainer(msg string) error {
	return &ContainerError{Code: CodeMalformedContainer, Line: d.line, Err: errors.New(msg)}
}

func (d *jsonDecoder) readError(err error) error {
	return &ContainerError{Code: CodeReadError, Line: d.line, Err: err}
}

// errBadRead is the error of a reader that broke the io.Reader contract.
var errBadRead = errors.New("ingest: reader returned an invalid count")

// chunkReader reads a body in chunks, keeping the first error it meets
// (io.EOF at the end of the body); it never reads again after one.
type chunkReader struct {
	r        io.Reader
	buf      []byte
	pos, end int // unread bytes are buf[pos:end]
	err      error
}

// fill makes sure some unread bytes are buffered and reports whether there
// are; when there are none, c.err says why.
func (c *chunkReader) fill() bool {
	if c.pos < c.end {
		return true
	}
	if c.err != nil {
		return false
	}
	c.pos, c.end = 0, 0
	for range 100 {
		n, err := c.r.Read(c.buf)
		if n < 0 || n > len(c.buf) {
			c.err = errBadRead
			return false
		}
		c.end, c.err = n, err
		if n > 0 || err != nil {
			return n > 0
		}
	}
	c.err = io.ErrNoProgress
	return false
}

// buffered returns the unread bytes.
func (c *chunkReader) buffered() []byte { return c.buf[c.pos:c.end] }

// peek returns the next unread byte; only call it after fill reported true.
func (c *chunkReader) peek() byte { return c.buf[c.pos] }
