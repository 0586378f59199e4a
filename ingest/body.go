package ingest

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"github.com/importd/importd/internal/headers"
)

// Ingestion error codes: why a delivery as a whole could not be read. They
// are stable; docs/errors.md documents each.
const (
	CodeUnknownFormat       = headers.CodeUnknownFormat
	CodeUnknownDataType     = headers.CodeUnknownDataType
	CodeUnsupportedContract = headers.CodeUnsupportedContract
	CodeUnknownEncoding     = headers.CodeUnknownEncoding
	CodeInvalidHeader       = headers.CodeInvalidHeader
	CodeInvalidReceipt      = headers.CodeInvalidReceipt
	CodeInvalidMerchant     = headers.CodeInvalidMerchant
	CodeMissingObject       = "MISSING_OBJECT"
	CodeUnreadableGzip      = "UNREADABLE_GZIP"
	CodeDeliveryTooLarge    = "DELIVERY_TOO_LARGE"
	CodeInternal            = "INTERNAL_ERROR"
	// CodeMalformedContainer, CodeReadError (decode.go) and catalog.CodeRecordTooLarge
	// are ingestion error codes too.
)

// bodyError is a failure of one layer of the body: the source, gzip or the
// size limit. Code is the ingestion error code it maps to.
type bodyError struct {
	Code string
	Err  error
}

func (e *bodyError) Error() string { return e.Code + ": " + e.Err.Error() }
func (e *bodyError) Unwrap() error { return e.Err }

// tagReader wraps every error but io.EOF of r in a bodyError with code,
// unless it is one already (an inner layer's).
type tagReader struct {
	r    io.Reader
	code string
}

func (t *tagReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		var be *bodyError
		if !errors.As(err, &be) {
			err = &bodyError{Code: t.code, Err: err}
		}
	}
	return n, err
}

// limitReader fails once more than max bytes have been read.
type limitReader struct {
	r    io.Reader
	max  int64
	read int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.read += int64(n)
	if l.read > l.max {
		return n, &bodyError{Code: CodeDeliveryTooLarge, Err: fmt.Errorf("the delivery is over the size limit of %d bytes (uncompressed)", l.max)}
	}
	return n, err
}

// openBody stacks the layers of a delivery body: the source, gzip when
// encoding says so, and the size limit on the uncompressed bytes. The
// returned limitReader counts the bytes read.
func openBody(src io.Reader, gz bool, maxBytes int64) (io.Reader, *limitReader, error) {
	r := io.Reader(&tagReader{r: src, code: CodeReadError})
	if gz {
		zr, err := gzip.NewReader(bufio.NewReaderSize(r, 64<<10))
		if err != nil {
			var be *bodyError
			if errors.As(err, &be) {
				return nil, nil, be
			}
			return nil, nil, &bodyError{Code: CodeUnreadableGzip, Err: fmt.Errorf("not a readable gzip stream: %w", err)}
		}
		r = &tagReader{r: zr, code: CodeUnreadableGzip}
	}
	lr := &limitReader{r: r, max: maxBytes}
	return lr, lr, nil
}

// countReader counts the bytes read from r: the body as stored, before gzip
// and the size limit, in the unit of its size.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
