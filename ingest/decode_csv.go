package ingest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/importd/importd/catalog"
)

// csvBufferSize is the read buffer handed to csv.Reader; it is also the slack
// a row may take beyond MaxRecordBytes before reading stops.
const csvBufferSize = 64 << 10

// errRowTooLarge stops a csv.Reader reading a row it would have to buffer whole.
var errRowTooLarge = errors.New("ingest: csv row too large")

// csvDecoder converts the rows of a csv body into JSON objects, the header row
// giving each column's dotted path. encoding/csv does the parsing; a
// rowLimiter under it keeps it from buffering more than MaxRecordBytes plus
// csvBufferSize for one row.
//
// A record whose JSON object is over MaxRecordBytes is RECORD_TOO_LARGE. A
// row that cannot be read within MaxRecordBytes plus csvBufferSize (counting
// its line breaks and any blank lines before it) stops the delivery with a
// ContainerError of code RECORD_TOO_LARGE, since csv cannot resynchronise
// reliably inside a quoted field. After a csv.ParseError, encoding/csv resumes
// at the next line, so the row is a MALFORMED_RECORD and decoding continues.
type csvDecoder struct {
	cfg     DecoderConfig
	src     *rowLimiter
	br      *bufio.Reader
	cr      *csv.Reader
	root    *csvNode // object tree of the header; nil until the header is read
	width   int      // number of columns
	bomLen  int64    // bytes of the BOM skipped before csv.Reader
	endLine int      // line where the last row read ends
	index   int      // index of the next record
	out     []byte   // JSON of the current row, reused
	err     error    // terminal error, returned by every later call
}

func newCSVDecoder(r io.Reader, cfg DecoderConfig) *csvDecoder {
	src := &rowLimiter{r: r, limit: int64(cfg.MaxRecordBytes) + csvBufferSize}
	br := bufio.NewReaderSize(src, csvBufferSize)
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	return &csvDecoder{cfg: cfg, src: src, br: br, cr: cr}
}

// Next returns the next row as a record.
func (d *csvDecoder) Next() (RawRecord, error) {
	if d.err != nil {
		return RawRecord{}, d.err
	}
	if d.root == nil {
		if err := d.readHeader(); err != nil {
			d.err = err
			return RawRecord{}, err
		}
	}
	rec, err := d.readRow()
	if err != nil {
		d.err = err
	}
	return rec, err
}

// readHeader reads the header row into d.root.
func (d *csvDecoder) readHeader() error {
	if p, _ := d.br.Peek(len(utf8BOM)); bytes.Equal(p, utf8BOM) {
		n, _ := d.br.Discard(len(utf8BOM)) // cannot fail: the bytes are buffered
		d.bomLen = int64(n)
	}
	names, perr, err := d.read()
	if err != nil {
		return err
	}
	if perr != nil {
		return &ContainerError{Code: CodeMalformedContainer, Line: perr.StartLine,
			Err: fmt.Errorf("bad CSV header: %s", parseReason(perr))}
	}
	line, _ := d.cr.FieldPos(0)
	d.endLine = d.lastLine(names)
	root, err := buildHeader(names, d.cfg)
	if err != nil {
		return &ContainerError{Code: CodeMalformedContainer, Line: line, Err: fmt.Errorf("bad CSV header: %w", err)}
	}
	d.root, d.width = root, len(names)
	return nil
}

// readRow reads the next row and converts it.
func (d *csvDecoder) readRow() (RawRecord, error) {
	fields, perr, err := d.read()
	if err != nil {
		return RawRecord{}, err
	}
	rec := RawRecord{Index: d.index}
	d.index++
	if perr != nil {
		d.endLine = perr.Line
		rec.Line = perr.StartLine
		rec.Err = malformedErr(rec.Line, parseReason(perr))
		return rec, nil
	}
	rec.Line, _ = d.cr.FieldPos(0)
	d.endLine = d.lastLine(fields)
	if len(fields) != d.width {
		rec.Err = malformedErr(rec.Line, fmt.Sprintf("%d fields, header has %d", len(fields), d.width))
		return rec, nil
	}
	rec.Data, rec.Err = d.convert(rec.Line, fields)
	return rec, nil
}

// convert turns a row of valid width into its own JSON object.
func (d *csvDecoder) convert(line int, fields []string) ([]byte, *catalog.Error) {
	for i, f := range fields {
		if !utf8.ValidString(f) {
			return nil, malformedErr(line, fmt.Sprintf("column %d: invalid UTF-8 at offset %d", i+1, invalidUTF8At([]byte(f))))
		}
	}
	out, ok := d.root.appendJSON(d.out[:0], fields)
	if !ok {
		out = append(out, "{}"...)
	}
	d.out = out
	if len(out) > d.cfg.MaxRecordBytes {
		e := catalog.DataErr(catalog.CodeRecordTooLarge, "", fmt.Sprintf(
			"line %d: record converted to JSON is larger than the limit of %d bytes", line, d.cfg.MaxRecordBytes))
		return nil, &e
	}
	return bytes.Clone(out), nil
}

// read reads one csv record. A *csv.ParseError comes back in perr; err is
// io.EOF or a *ContainerError, after which nothing more can be read.
func (d *csvDecoder) read() (fields []string, perr *csv.ParseError, err error) {
	fields, err = d.cr.Read()
	d.src.rowEnd = d.bomLen + d.cr.InputOffset()
	switch {
	case err == nil:
		return fields, nil, nil
	case d.src.err != nil: // before ParseError: csv reports a parse error over a read error
		return nil, nil, d.sourceError()
	case errors.As(err, &perr):
		return nil, perr, nil
	case err == io.EOF:
		return nil, nil, io.EOF
	}
	return nil, nil, &ContainerError{Code: CodeReadError, Line: d.endLine + 1, Err: err}
}

// sourceError converts the rowLimiter's error. The row it happened in starts
// after the last row read (blank lines aside).
func (d *csvDecoder) sourceError() error {
	if d.src.err == errRowTooLarge {
		return &ContainerError{Code: catalog.CodeRecordTooLarge, Line: d.endLine + 1,
			Err: fmt.Errorf("csv row larger than the limit of %d bytes", d.cfg.MaxRecordBytes)}
	}
	return &ContainerError{Code: CodeReadError, Line: d.endLine + 1, Err: d.src.err}
}

// lastLine is the line where the record just read ends: where its last field
// starts, plus the line breaks inside that field (quoted fields may span lines;
// csv.Reader turns each "\r\n" into "\n").
func (d *csvDecoder) lastLine(fields []string) int {
	last := len(fields) - 1
	line, _ := d.cr.FieldPos(last)
	return line + strings.Count(fields[last], "\n")
}

// parseReason describes a csv.ParseError without repeating its start line.
func parseReason(perr *csv.ParseError) string {
	if perr.Line != perr.StartLine {
		return fmt.Sprintf("invalid CSV at line %d, column %d: %v", perr.Line, perr.Column, perr.Err)
	}
	return fmt.Sprintf("invalid CSV at column %d: %v", perr.Column, perr.Err)
}

// rowLimiter bounds what csv.Reader may buffer for one row: it refuses to
// read more than limit bytes past the end of the last row read. It keeps its
// first error other than io.EOF and never reads again after it.
type rowLimiter struct {
	r      io.Reader
	limit  int64
	read   int64 // bytes read from r
	rowEnd int64 // offset in the body where the last row read ends
	err    error
}

func (l *rowLimiter) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	room := l.rowEnd + l.limit - l.read
	if room <= 0 {
		l.err = errRowTooLarge
		return 0, l.err
	}
	if int64(len(p)) > room {
		p = p[:room]
	}
	n, err := l.r.Read(p)
	if n < 0 || n > len(p) {
		n, err = 0, errBadRead
	}
	l.read += int64(n)
	if err != nil && err != io.EOF {
		l.err = err
	}
	return n, err
}

// csvNode is a node of the object tree the header's dotted paths describe: the
// root is the record object; a leaf is a column.
type csvNode struct {
	member   []byte // `"key":` of an object member; nil for an array element
	index    string // array index without leading zeros, for an array element
	column   int    // column of a leaf; -1 for an object or array
	kind     catalog.Kind
	array    bool // the children are array elements
	children []*csvNode
	byKey    map[string]*csvNode // children by key or index
	owner    int                 // first column under this node, for messages
}

// buildHeader builds the object tree of the header names (MaxDepth bounds
// their number of segments) and checks that they are sound dotted paths.
func buildHeader(names []string, cfg DecoderConfig) (*csvNode, error) {
	b := headerBuilder{root: newCSVNode(-1, -1), kindOf: cfg.ColumnKind}
	for i, raw := range names {
		name := strings.TrimSpace(raw)
		b.names = append(b.names, name)
		if err := b.add(i, name, cfg.MaxDepth); err != nil {
			return nil, err
		}
	}
	b.root.sortArrays()
	return b.root, nil
}

// headerBuilder adds the columns of a header one by one to an object tree.
type headerBuilder struct {
	root   *csvNode
	names  []string // trimmed names of the columns added so far
	kindOf func(string) catalog.Kind
}

func newCSVNode(column, owner int) *csvNode {
	return &csvNode{column: column, owner: owner}
}

// add adds column col, named name, to the tree.
func (b *headerBuilder) add(col int, name string, maxDepth int) error {
	switch {
	case name == "":
		return fmt.Errorf("column %d has no name", col+1)
	case !utf8.ValidString(name):
		return fmt.Errorf("column %d: invalid UTF-8 in its name", col+1)
	}
	segments := strings.Split(name, ".")
	if len(segments) > maxDepth {
		return fmt.Errorf("column %d %q nests deeper than %d levels", col+1, name, maxDepth)
	}
	node := b.root
	for depth, seg := range segments {
		if seg == "" {
			return fmt.Errorf("column %d %q has an empty path segment", col+1, name)
		}
		isIndex := depth > 0 && isDigits(seg)
		if len(node.children) > 0 && node.array != isIndex {
			return b.conflict(col, node.owner)
		}
		key := seg
		if isIndex {
			key = strings.TrimLeft(seg, "0")
			if key == "" {
				key = "0"
			}
		}
		last := depth == len(segments)-1
		child := node.byKey[key]
		switch {
		case child == nil:
			child = b.newChild(node, key, isIndex, col, last)
		case last || child.column >= 0:
			return b.conflict(col, child.owner)
		}
		node = child
	}
	return nil
}

// newChild adds to parent the child key for column col, a leaf when last.
func (b *headerBuilder) newChild(parent *csvNode, key string, isIndex bool, col int, last bool) *csvNode {
	child := newCSVNode(-1, col)
	if last {
		child.column = col
		if b.kindOf != nil {
			child.kind = b.kindOf(b.names[col])
		}
	}
	if isIndex {
		child.index = key
	} else {
		child.member = append(appendJSONString(nil, key), ':')
	}
	if parent.byKey == nil {
		parent.byKey = make(map[string]*csvNode)
	}
	parent.array = isIndex
	parent.byKey[key] = child
	parent.children = append(parent.children, child)
	return child
}

// conflict is the error of column col whose path clashes with column other's.
func (b *headerBuilder) conflict(col, other int) error {
	if b.names[col] == b.names[other] {
		return fmt.Errorf("column %d %q duplicates column %d", col+1, b.names[col], other+1)
	}
	return fmt.Errorf("column %d %q conflicts with column %d %q", col+1, b.names[col], other+1, b.names[other])
}

// sortArrays puts array elements in index order, throughout the tree.
func (n *csvNode) sortArrays() {
	if n.array {
		slices.SortStableFunc(n.children, func(a, b *csvNode) int {
			if len(a.index) != len(b.index) {
				return len(a.index) - len(b.index)
			}
			return strings.Compare(a.index, b.index)
		})
	}
	for _, c := range n.children {
		c.sortArrays()
	}
}

// appendJSON appends the JSON of node n for row to dst and reports whether it
// did: empty cells, and objects and arrays left empty, are omitted.
func (n *csvNode) appendJSON(dst []byte, row []string) ([]byte, bool) {
	if n.column >= 0 {
		cell := row[n.column]
		if cell == "" {
			return dst, false
		}
		return appendCell(dst, cell, n.kind), true
	}
	start := len(dst)
	open, end := byte('{'), byte('}')
	if n.array {
		open, end = '[', ']'
	}
	dst = append(dst, open)
	empty := true
	for _, c := range n.children {
		mark := len(dst)
		if !empty {
			dst = append(dst, ',')
		}
		dst = append(dst, c.member...)
		var ok bool
		if dst, ok = c.appendJSON(dst, row); !ok {
			dst = dst[:mark]
			continue
		}
		empty = false
	}
	if empty {
		return dst[:start], false
	}
	return append(dst, end), true
}

// appendCell appends the JSON value of a non-empty cell of the given kind: the
// typed value when the cell converts, else a JSON string.
func appendCell(dst []byte, cell string, kind catalog.Kind) []byte {
	v := strings.TrimSpace(cell)
	switch {
	case kind == catalog.KindInt && isJSONInt(v), kind == catalog.KindNumber && isJSONNumber(v):
		return append(dst, v...)
	case kind == catalog.KindBool && strings.EqualFold(v, "true"):
		return append(dst, "true"...)
	case kind == catalog.KindBool && strings.EqualFold(v, "false"):
		return append(dst, "false"...)
	}
	return appendJSONString(dst, cell)
}

// isDigits reports whether s is a non-empty run of ASCII digits.
func isDigits(s string) bool {
	return s != "" && leadingDigits(s) == len(s)
}

// leadingDigits returns the length of the run of ASCII digits s starts with.
func leadingDigits(s string) int {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

// isJSONInt reports whether s is a JSON integer literal (of any size).
func isJSONInt(s string) bool {
	rest, ok := jsonIntPart(s)
	return ok && rest == ""
}

// isJSONNumber reports whether s is a JSON number literal.
func isJSONNumber(s string) bool {
	s, ok := jsonIntPart(s)
	if !ok {
		return false
	}
	if rest, ok := strings.CutPrefix(s, "."); ok {
		n := leadingDigits(rest)
		if n == 0 {
			return false
		}
		s = rest[n:]
	}
	if s != "" && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s != "" && (s[0] == '+' || s[0] == '-') {
			s = s[1:]
		}
		n := leadingDigits(s)
		if n == 0 {
			return false
		}
		s = s[n:]
	}
	return s == ""
}

// jsonIntPart consumes the integer part of a JSON number: an optional '-',
// then 0 or a digit run not starting with 0.
func jsonIntPart(s string) (rest string, ok bool) {
	s = strings.TrimPrefix(s, "-")
	n := leadingDigits(s)
	if n == 0 || (n > 1 && s[0] == '0') {
		return s, false
	}
	return s[n:], true
}

// appendJSONString appends s, valid UTF-8, as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
