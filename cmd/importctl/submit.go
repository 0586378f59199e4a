package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
	"github.com/importd/importd/internal/headers"
)

// Formats of Import-Format.
const (
	formatNDJSON = "ndjson"
	formatJSON   = "json"
	formatCSV    = "csv"
)

// submitOptions are the flags and argument of submit.
type submitOptions struct {
	file       string // path, or "-" for stdin
	merchant   string
	data       string
	format     string // "" until guessed from the file name
	receipt    string // "" for a fresh one
	foreignKey string
	skipErrors bool
	gzip       bool
	watch      bool
	timeout    time.Duration
}

// submit runs `importctl submit FILE --merchant M …`: it publishes the
// delivery, prints its receipt id on stdout and, with --watch, follows it
// to its end.
func (c *cli) submit(ctx context.Context, g globals, args []string) (int, error) {
	opts, err := parseSubmit(&g, args, c.stderr)
	if err != nil {
		return exitUsage, err
	}
	var client *Client
	if opts.watch { // check --api before publishing anything
		if client, err = NewClient(g.api, g.token); err != nil {
			return exitUsage, err
		}
		client.merchant = opts.merchant
	}
	d, err := newDelivery(opts)
	if err != nil {
		return exitUsage, err
	}
	src, err := openSource(opts.file, c.stdin)
	if err != nil {
		return exitUsage, err
	}
	defer src.Close()
	nc, err := bus.Connect(g.nats, "importctl", g.auth, nil)
	if err != nil {
		return exitUsage, connectError(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return exitUsage, fmt.Errorf("jetstream: %w", err)
	}
	res, err := publishFile(ctx, js, d, opts, src, c.stderr)
	if err != nil {
		return exitUsage, err
	}
	report(c.stderr, res)
	fmt.Fprintln(c.stdout, res.delivery.receipt)
	if !opts.watch {
		return exitOK, nil
	}
	// No grace: JetStream has the delivery, and ingest reads it sooner or
	// later (--timeout bounds the wait).
	return c.watchAndReport(ctx, client, res.delivery.receipt, opts.timeout, 0, c.stderr)
}

// parseSubmit parses and validates the flags and argument of submit.
func parseSubmit(g *globals, args []string, stderr io.Writer) (submitOptions, error) {
	var o submitOptions
	fs := newFlagSet("submit", "importctl submit FILE --merchant M [flags]", stderr)
	g.register(fs.FlagSet)
	fs.StringVar(&o.merchant, "merchant", "", "merchant `id` the delivery belongs to (required)")
	fs.StringVar(&o.data, "data", "Product", "resource `type` of every record")
	fs.StringVar(&o.format, "format", "", "`format` of FILE: ndjson, json or csv (default: from the file name, else ndjson)")
	fs.StringVar(&o.receipt, "receipt", "", "receipt `id` (default: 32 random hex digits)")
	fs.StringVar(&o.foreignKey, "foreign-key", "", "the upstream's own `reference` for the delivery")
	fs.BoolVar(&o.skipErrors, "skip-errors", false, "never interrupt the delivery on errors")
	fs.BoolVar(&o.gzip, "gzip", false, "gzip the body on the fly (unless FILE is gzipped already)")
	fs.BoolVar(&o.watch, "watch", false, "show a progress bar until the delivery ends")
	fs.DurationVar(&o.timeout, "timeout", 0, "with --watch: give up after this `duration` (0: never)")
	pos, err := fs.parseInterspersed(args)
	if err != nil {
		return o, err
	}
	if len(pos) != 1 {
		return o, usagef("submit: want one FILE argument (\"-\" for stdin), got %d", len(pos))
	}
	o.file = pos[0]
	return o, o.validate()
}

// validate checks the options against the contract (docs/contract.md, "A
// delivery message"), so that a mistake is an error here rather than an
// IngestionFailure later.
func (o *submitOptions) validate() error {
	switch {
	case o.merchant == "":
		return usagef("submit: --merchant is required")
	case !bus.ValidMerchant(o.merchant):
		return usagef("submit: invalid merchant id %q: want 1 to 64 of A-Z a-z 0-9 _ -", o.merchant)
	case o.receipt != "" && !bus.ValidReceipt(o.receipt):
		return usagef("submit: invalid receipt id %q: want 8 to 64 of A-Z a-z 0-9 _ -", o.receipt)
	case o.data == "" || !headerSafe(o.data):
		return usagef("submit: invalid --data %q: want one of %s", o.data, resourceTypeNames())
	case len(o.foreignKey) > headers.MaxForeignKey:
		return usagef("submit: --foreign-key is %d bytes long, over the limit of %d", len(o.foreignKey), headers.MaxForeignKey)
	case !headerSafe(o.foreignKey):
		return usagef("submit: --foreign-key must not hold control characters")
	case o.timeout < 0:
		return usagef("submit: --timeout must not be negative")
	case o.timeout > 0 && !o.watch:
		return usagef("submit: --timeout needs --watch")
	}
	t, ok := catalog.ParseResourceType(o.data)
	if !ok {
		return usagef("submit: unknown --data %q: want one of %s (any case)", o.data, resourceTypeNames())
	}
	o.data = string(t) // as the contract spells it
	if o.format != "" {
		f := strings.ToLower(o.format)
		if f != formatNDJSON && f != formatJSON && f != formatCSV {
			return usagef("submit: invalid --format %q: want ndjson, json or csv", o.format)
		}
		o.format = f
	}
	return nil
}

// resourceTypeNames lists the values of Import-Data, comma-separated.
func resourceTypeNames() string {
	names := make([]string, len(catalog.ResourceTypes))
	for i, t := range catalog.ResourceTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// connectError classifies a failure to connect to NATS: refused
// credentials are ErrUnauthorized, no server answering is ErrUnreachable;
// anything else (an unreadable credentials file, say) stays as it is.
func connectError(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired),
		errors.Is(err, nats.ErrAuthRevoked), errors.Is(err, nats.ErrAccountAuthExpired):
		return fmt.Errorf("NATS %w: %w", ErrUnauthorized, err)
	case errors.Is(err, nats.ErrNoServers), errors.Is(err, nats.ErrTimeout), errors.As(err, &ne):
		return fmt.Errorf("NATS %w: %w", ErrUnreachable, err)
	default:
		return err
	}
}

// headerSafe reports whether s can be a header value: no control characters.
func headerSafe(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// guessFormat returns the format a file name implies (.ndjson, .jsonl,
// .json, .csv, each optionally followed by .gz; ndjson when none does) and
// whether its .gz extension says it is gzipped.
func guessFormat(name string) (format string, gz bool) {
	lower := strings.ToLower(name)
	lower, gz = strings.CutSuffix(lower, ".gz")
	switch filepath.Ext(lower) {
	case ".json":
		return formatJSON, gz
	case ".csv":
		return formatCSV, gz
	default: // .ndjson, .jsonl, and anything else
		return formatNDJSON, gz
	}
}

// isGzip reports whether a body is gzipped: by its name's .gz extension or
// by the gzip magic bytes at its head.
func isGzip(name string, head []byte) bool {
	_, gz := guessFormat(name)
	return gz || hasGzipMagic(head)
}

// hasGzipMagic reports whether head starts with the gzip magic bytes 1f 8b.
func hasGzipMagic(head []byte) bool { return bytes.HasPrefix(head, []byte{0x1f, 0x8b}) }

// delivery is what a delivery message says about its body.
type delivery struct {
	merchant   string
	receipt    string
	data       string
	format     string
	foreignKey string
	skipErrors bool
	gzip       bool   // the body is gzipped: Content-Encoding gzip
	object     string // name of the body in IMPORT_PAYLOADS; "" when inline
}

// newDelivery returns the delivery the options describe, with a fresh
// receipt id unless one was given. Its encoding and object are decided when
// the body is read.
func newDelivery(o submitOptions) (delivery, error) {
	d := delivery{
		merchant:   o.merchant,
		receipt:    o.receipt,
		data:       o.data,
		format:     o.format,
		foreignKey: o.foreignKey,
		skipErrors: o.skipErrors,
	}
	if d.format == "" {
		d.format, _ = guessFormat(o.file)
	}
	if d.receipt == "" {
		r, err := newReceipt()
		if err != nil {
			return d, err
		}
		d.receipt = r
	}
	return d, nil
}

// newReceipt returns a fresh receipt id: 32 random hex digits.
func newReceipt() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new receipt id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// subject is where the delivery is published.
func (d delivery) subject() string { return bus.DeliverySubject(d.merchant) }

// bus returns the delivery as the bus publishes it.
func (d delivery) bus() bus.Delivery {
	return bus.Delivery{Merchant: d.merchant, Receipt: d.receipt, Data: d.data, Format: d.format,
		ForeignKey: d.foreignKey, SkipErrors: d.skipErrors, Gzip: d.gzip}
}

// header returns the message headers of the delivery.
func (d delivery) header() nats.Header {
	h := d.bus().Header()
	if d.object != "" {
		h.Set(bus.HeaderObject, d.object)
	}
	return h
}

// openSource opens FILE, or returns stdin for "-".
func openSource(file string, stdin io.Reader) (io.ReadCloser, error) {
	if file == "-" {
		return io.NopCloser(stdin), nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, usagef("submit: %v", err)
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, usagef("submit: %s is a directory", file)
	}
	return f, nil
}

// encoded is a body ready to publish.
type encoded struct {
	io.ReadCloser      // closing it stops the compression, if any
	gzip          bool // the body is gzipped
	// misnamed: the file is named .gz but does not start with the gzip magic
	// bytes; it is sent as gzip all the same, as its name says.
	misnamed bool
}

// encodeBody returns the bytes to publish from src, named name: src as it
// is when it is gzipped already (isGzip) or compress is false, else src
// gzipped on the fly.
func encodeBody(name string, src io.Reader, compress bool) (encoded, error) {
	br := bufio.NewReaderSize(src, 64<<10)
	head, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return encoded{}, fmt.Errorf("read %s: %w", name, err)
	}
	switch {
	case isGzip(name, head):
		return encoded{ReadCloser: io.NopCloser(br), gzip: true, misnamed: !hasGzipMagic(head)}, nil
	case compress:
		return encoded{ReadCloser: gzipReader(br), gzip: true}, nil
	default:
		return encoded{ReadCloser: io.NopCloser(br)}, nil
	}
}

// gzipReader returns src gzipped, compressed in a goroutine that ends when
// src is exhausted or the reader is closed.
func gzipReader(src io.Reader) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		zw := gzip.NewWriter(pw)
		_, err := io.Copy(zw, src)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// published is the outcome of a submit.
type published struct {
	delivery  delivery
	size      int64 // bytes of the body as sent (compressed when gzipped)
	sequence  uint64
	duplicate bool // the receipt had been published before: a no-op
}

// publishFile reads the body from src and publishes the delivery d: inline
// when the body is at most bus.InlineLimit bytes, else through the object
// store IMPORT_PAYLOADS under a name of its own.
func publishFile(ctx context.Context, js jetstream.JetStream, d delivery, o submitOptions, src io.Reader, stderr io.Writer) (published, error) {
	body, err := encodeBody(o.file, src, o.gzip)
	if err != nil {
		return published{}, err
	}
	defer body.Close()
	d.gzip = body.gzip
	if body.misnamed {
		fmt.Fprintf(stderr, "importctl: warning: %s is named .gz but does not start like gzip; sending it as gzip\n", o.file)
	}
	bd := d.bus()
	bd.Description = "importctl submit " + filepath.Base(o.file)
	pub, err := bus.PublishDelivery(ctx, js, bd, body)
	if err != nil {
		return published{}, fmt.Errorf("submit %s: %w", o.file, err)
	}
	d.object = pub.Object
	return published{delivery: d, size: pub.Size, sequence: pub.Sequence, duplicate: pub.Duplicate}, nil
}

// report tells the user on stderr what was published.
func report(w io.Writer, p published) {
	d := p.delivery
	where := fmt.Sprintf("%d bytes inline", p.size)
	if d.object != "" {
		where = fmt.Sprintf("%d bytes in object %s/%s", p.size, bus.BucketPayloads, d.object)
	}
	enc := ""
	if d.gzip {
		enc = ", gzip"
	}
	fmt.Fprintf(w, "published delivery %s to %s (sequence %d): %s %s, %s%s\n",
		d.receipt, d.subject(), p.sequence, d.data, d.format, where, enc)
	if p.duplicate {
		fmt.Fprintf(w, "receipt %s had been published before: this publish was a no-op\n", d.receipt)
	}
}
