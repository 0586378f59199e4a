// Package ingest is the delivery intake: it decodes a delivery body (ndjson,
// json or csv) record by record, validates each record and turns it into an
// import operation.
package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/importd/importd/catalog"
)

// Format of a delivery body (Import-Format header).
type Format string

// Delivery body formats.
const (
	FormatNDJSON Format = "ndjson" // one JSON object a line
	FormatJSON   Format = "json"   // one JSON array of objects
	FormatCSV    Format = "csv"    // a header row of dotted paths, then one record a row
)

// ErrUnknownFormat is returned (wrapped) by ParseFormat for an unknown Import-Format value.
var ErrUnknownFormat = errors.New("ingest: unknown format")

// ParseFormat parses an Import-Format value case-insensitively, ignoring
// surrounding spaces ("" is NDJSON). An unknown value is an error wrapping
// ErrUnknownFormat.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case "":
		return FormatNDJSON, nil
	case FormatNDJSON, FormatJSON, FormatCSV:
		return f, nil
	}
	return "", fmt.Errorf("%w %q (want ndjson, json or csv)", ErrUnknownFormat, s)
}

// RawRecord is one record read from a delivery.
type RawRecord struct {
	Index int            // 0-based position of the record in the delivery (counts malformed records too)
	Line  int            // 1-based line of the body where the record starts
	Data  []byte         // the record as a JSON object (CSV rows converted); nil when Err is set. Owned by the caller (never reused).
	Err   *catalog.Error // set when this record is unreadable (MALFORMED_RECORD or RECORD_TOO_LARGE, Type DATA_ERROR); the description names the line ("line 17: ...")
}

// Decoder reads the records of one delivery body one by one. Next returns
// io.EOF after the last record. Any other error means the rest of the body
// cannot be read; it is a *ContainerError, and records returned before it stay
// valid. Once Next has returned an error, every later call returns the same
// error. A Decoder is not safe for concurrent use.
type Decoder interface {
	Next() (RawRecord, error)
}

// Defaults of DecoderConfig.
const (
	DefaultMaxRecordBytes = 1 << 20
	DefaultMaxDepth       = 64
)

// DecoderConfig configures a Decoder. The zero value is ready to use.
type DecoderConfig struct {
	// MaxRecordBytes is the largest record in bytes: an ndjson line without its
	// line break, a json element from its first to its last non-space byte, the
	// JSON object a csv row converts to. A csv row that cannot be read within
	// MaxRecordBytes plus 64 KiB stops the delivery (ContainerError
	// RECORD_TOO_LARGE). Defaults to 1 MiB (DefaultMaxRecordBytes).
	MaxRecordBytes int
	// MaxDepth is the deepest JSON nesting inside one record; the record
	// object itself is level 1. Defaults to 64 (DefaultMaxDepth).
	MaxDepth int
	// ColumnKind gives, for csv only, the JSON type of a column's cells from the
	// column's (trimmed) header name. Nil means every cell is a string.
	ColumnKind func(column string) catalog.Kind
}

func (c DecoderConfig) withDefaults() DecoderConfig {
	if c.MaxRecordBytes <= 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.MaxDepth <= 0 {
		c.MaxDepth = DefaultMaxDepth
	}
	return c
}

// Codes of a ContainerError, beside catalog.CodeRecordTooLarge (a csv row too
// large to read and resynchronise after).
const (
	CodeMalformedContainer = "MALFORMED_CONTAINER" // not a JSON array, bad CSV header, truncated array, unknown format ...
	CodeReadError          = "READ_ERROR"          // the underlying reader failed
)

// ContainerError means the delivery as a whole cannot be read further.
type ContainerError struct {
	Code string // CodeMalformedContainer, CodeReadError or catalog.CodeRecordTooLarge
	Line int    // 1-based line of the body where the problem was found; 0 if unknown
	Err  error  // underlying error; for READ_ERROR the reader's own error
}

// Error describes the problem with its code and line.
func (e *ContainerError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("ingest: %s at line %d: %v", e.Code, e.Line, e.Err)
	}
	return fmt.Sprintf("ingest: %s: %v", e.Code, e.Err)
}

// Unwrap returns the underlying error, so errors.Is and errors.As see the
// reader's error through a READ_ERROR.
func (e *ContainerError) Unwrap() error { return e.Err }

// NewDecoder returns a streaming Decoder of body r in format f. Its memory is
// bounded by cfg.MaxRecordBytes (the ndjson decoder allocates a buffer of that
// size up front), never by the size of the body. An unknown format gives a
// Decoder whose Next returns a MALFORMED_CONTAINER error wrapping
// ErrUnknownFormat.
func NewDecoder(f Format, r io.Reader, cfg DecoderConfig) Decoder {
	cfg = cfg.withDefaults()
	format, err := ParseFormat(string(f))
	if err != nil {
		return &failedDecoder{err: &ContainerError{Code: CodeMalformedContainer, Err: err}}
	}
	switch format {
	case FormatJSON:
		return newJSONDecoder(r, cfg)
	case FormatCSV:
		return newCSVDecoder(r, cfg)
	default:
		return newNDJSONDecoder(r, cfg)
	}
}

// failedDecoder is a Decoder that could not start.
type failedDecoder struct{ err error }

func (d *failedDecoder) Next() (RawRecord, error) { return RawRecord{}, d.err }

// utf8BOM is the byte order mark some tools write at the start of a body.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// isJSONSpace reports whether b is JSON whitespace.
func isJSONSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r'
}

// isJSONBlank reports whether p holds only JSON whitespace.
func isJSONBlank(p []byte) bool {
	for _, b := range p {
		if !isJSONSpace(b) {
			return false
		}
	}
	return true
}

// trimJSONSpace trims JSON whitespace from both ends of p.
func trimJSONSpace(p []byte) []byte {
	return bytes.Trim(p, " \t\r\n")
}

// malformedErr is the MALFORMED_RECORD error of the record starting at line.
func malformedErr(line int, reason string) *catalog.Error {
	e := catalog.DataErr(catalog.CodeMalformedRecord, "", fmt.Sprintf("line %d: %s", line, reason))
	return &e
}

// tooLargeErr is the RECORD_TOO_LARGE error of the record starting at line.
func tooLargeErr(line, limit int) *catalog.Error {
	e := catalog.DataErr(catalog.CodeRecordTooLarge, "",
		fmt.Sprintf("line %d: record is larger than the limit of %d bytes", line, limit))
	return &e
}

// objectRecord builds the RawRecord of data: its own copy of data when data
// is one JSON object no deeper than maxDepth levels, else a MALFORMED_RECORD.
func objectRecord(index, line int, data []byte, maxDepth int) RawRecord {
	rec := RawRecord{Index: index, Line: line}
	if reason := checkObject(data, maxDepth); reason != "" {
		rec.Err = malformedErr(line, reason)
	} else {
		rec.Data = bytes.Clone(data)
	}
	return rec
}

// checkObject says why data (without surrounding whitespace) is not one JSON
// object of valid UTF-8 at most maxDepth levels deep, or "" when it is one.
func checkObject(data []byte, maxDepth int) string {
	if len(data) == 0 {
		return "empty record"
	}
	if !utf8.Valid(data) {
		return fmt.Sprintf("invalid UTF-8 at offset %d", invalidUTF8At(data))
	}
	if !json.Valid(data) {
		return "invalid JSON: " + syntaxReason(data)
	}
	if data[0] != '{' {
		return "not a JSON object but " + jsonKind(data[0])
	}
	if exceedsDepth(data, maxDepth) {
		return fmt.Sprintf("nesting deeper than %d levels", maxDepth)
	}
	return ""
}

// invalidUTF8At returns the offset of the first invalid UTF-8 sequence in p.
func invalidUTF8At(p []byte) int {
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(p)
}

// syntaxReason describes the JSON syntax error in data.
func syntaxReason(data []byte) string {
	err := json.Unmarshal(data, new(json.RawMessage))
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se) && se.Offset < int64(len(data)):
		return fmt.Sprintf("%v (offset %d)", se, se.Offset-1) // Offset counts the bad byte
	case err != nil:
		return err.Error()
	}
	return "not valid JSON"
}

// jsonKind names the JSON type of a valid value starting with b.
func jsonKind(b byte) string {
	switch b {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// exceedsDepth reports whether valid JSON data nests deeper than maxDepth.
func exceedsDepth(data []byte, maxDepth int) bool {
	depth := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{', '[':
			if depth++; depth > maxDepth {
				return true
			}
		case '}', ']':
			depth--
		case '"':
			i = stringEnd(data, i+1)
		}
	}
	return false
}

// stringEnd returns the index of the quote closing the JSON string whose
// content starts at start, or len(data)-1 when it is not closed.
func stringEnd(data []byte, start int) int {
	for i := start; i < len(data); i++ {
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			break
		}
		i += j
		if escapingBackslashes(data[start:i])%2 == 0 {
			return i
		}
	}
	return len(data) - 1
}

// escapingBackslashes counts the backslashes p ends with.
func escapingBackslashes(p []byte) int {
	n := 0
	for n < len(p) && p[len(p)-1-n] == '\\' {
		n++
	}
	return n
}
