package ingest

import (
	"bufio"
	"bytes"
	"io"
)

// ndjsonDecoder decodes one JSON object a line. Its only buffer is a
// bufio.Reader of MaxRecordBytes plus room for a BOM and "\r\n": a longer line
// is a RECORD_TOO_LARGE record and is skipped chunk by chunk, never buffered
// whole.
type ndjsonDecoder struct {
	br    *bufio.Reader
	cfg   DecoderConfig
	line  int   // lines read so far
	index int   // index of the next record
	err   error // terminal error, returned by every later call
}

func newNDJSONDecoder(r io.Reader, cfg DecoderConfig) *ndjsonDecoder {
	size := cfg.MaxRecordBytes + len(utf8BOM) + len("\r\n")
	return &ndjsonDecoder{br: bufio.NewReaderSize(r, size), cfg: cfg}
}

// Next returns the next non-blank line as a record.
func (d *ndjsonDecoder) Next() (RawRecord, error) {
	for d.err == nil {
		rec, ok, err := d.readLine()
		if err != nil {
			d.err = err
			break
		}
		if ok {
			return rec, nil
		}
	}
	return RawRecord{}, d.err
}

// readLine reads one line: a record, or ok false when the line is blank.
func (d *ndjsonDecoder) readLine() (RawRecord, bool, error) {
	start := d.line + 1
	chunk, err := d.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return d.skipLongLine(start, chunk)
	case err == io.EOF && len(chunk) == 0:
		return RawRecord{}, false, io.EOF
	case err != nil && err != io.EOF:
		return RawRecord{}, false, &ContainerError{Code: CodeReadError, Line: start, Err: err}
	}
	d.line++
	if start == 1 {
		chunk = bytes.TrimPrefix(chunk, utf8BOM)
	}
	content := trimLineBreak(chunk)
	if isJSONBlank(content) {
		return RawRecord{}, false, nil
	}
	index := d.index
	d.index++
	if len(content) > d.cfg.MaxRecordBytes {
		return RawRecord{Index: index, Line: start, Err: tooLargeErr(start, d.cfg.MaxRecordBytes)}, true, nil
	}
	return objectRecord(index, start, trimJSONSpace(content), d.cfg.MaxDepth), true, nil
}

// skipLongLine discards the rest of a line longer than the buffer, whose
// first chunk is first. A line of only whitespace stays blank; any other is a
// RECORD_TOO_LARGE record.
func (d *ndjsonDecoder) skipLongLine(start int, first []byte) (RawRecord, bool, error) {
	if start == 1 {
		first = bytes.TrimPrefix(first, utf8BOM)
	}
	blank := isJSONBlank(first)
	for {
		chunk, err := d.br.ReadSlice('\n')
		blank = blank && isJSONBlank(chunk)
		if err == nil || err == io.EOF {
			break
		}
		if err != bufio.ErrBufferFull {
			return RawRecord{}, false, &ContainerError{Code: CodeReadError, Line: start, Err: err}
		}
	}
	d.line++
	if blank {
		return RawRecord{}, false, nil
	}
	rec := RawRecord{Index: d.index, Line: start, Err: tooLargeErr(start, d.cfg.MaxRecordBytes)}
	d.index++
	return rec, true, nil
}

// trimLineBreak removes a trailing "\n" or "\r\n".
func trimLineBreak(p []byte) []byte {
	p = bytes.TrimSuffix(p, []byte("\n"))
	return bytes.TrimSuffix(p, []byte("\r"))
}
