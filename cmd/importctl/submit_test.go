package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/bus"
)

func TestGuessFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		format string
		gz     bool
	}{
		{"products.ndjson", "ndjson", false},
		{"products.jsonl", "ndjson", false},
		{"products.json", "json", false},
		{"dir.v2/products.csv", "csv", false},
		{"PRODUCTS.CSV", "csv", false},
		{"products.ndjson.gz", "ndjson", true},
		{"products.json.gz", "json", true},
		{"products.csv.GZ", "csv", true},
		{"products.txt", "ndjson", false},
		{"products", "ndjson", false},
		{"products.gz", "ndjson", true},
		{"-", "ndjson", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			format, gz := guessFormat(tt.name)
			require.Equal(t, tt.format, format)
			require.Equal(t, tt.gz, gz)
		})
	}
}

func TestIsGzip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc string
		name string
		head []byte
		want bool
	}{
		{"by extension", "a.ndjson.gz", []byte("{}"), true},
		{"by magic bytes", "a.ndjson", []byte{0x1f, 0x8b}, true},
		{"stdin with magic bytes", "-", []byte{0x1f, 0x8b}, true},
		{"plain", "a.json", []byte("[{"), false},
		{"half the magic", "a.json", []byte{0x1f}, false},
		{"empty", "a.csv", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, isGzip(tt.name, tt.head))
		})
	}
}

func TestDeliveryHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc string
		d    delivery
		want nats.Header
	}{
		{
			desc: "minimal",
			d:    delivery{merchant: "m1", receipt: "receipt-1", data: "Product", format: "ndjson"},
			want: nats.Header{
				bus.HeaderMsgID:  {"m1.receipt-1"},
				bus.HeaderData:   {"Product"},
				bus.HeaderFormat: {"ndjson"},
			},
		},
		{
			desc: "everything",
			d: delivery{merchant: "m1", receipt: "receipt-2", data: "Category", format: "csv",
				foreignKey: "batch 7", skipErrors: true, gzip: true, object: "receipt-2"},
			want: nats.Header{
				bus.HeaderMsgID:      {"m1.receipt-2"},
				bus.HeaderData:       {"Category"},
				bus.HeaderFormat:     {"csv"},
				bus.HeaderForeignKey: {"batch 7"},
				bus.HeaderSkipErrors: {"true"},
				bus.HeaderEncoding:   {"gzip"},
				bus.HeaderObject:     {"receipt-2"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.d.header())
			require.Equal(t, "import.deliveries.m1", tt.d.subject())
		})
	}
}

func TestNewDelivery(t *testing.T) {
	t.Parallel()
	d, err := newDelivery(submitOptions{file: "x.csv.gz", merchant: "m1", data: "Product"})
	require.NoError(t, err)
	require.Equal(t, "csv", d.format)
	require.Regexp(t, `^[0-9a-f]{32}$`, d.receipt)
	require.True(t, bus.ValidReceipt(d.receipt))

	other, err := newDelivery(submitOptions{file: "x.csv", merchant: "m1", data: "Product"})
	require.NoError(t, err)
	require.NotEqual(t, d.receipt, other.receipt)

	d, err = newDelivery(submitOptions{file: "x.csv", merchant: "m1", data: "Product", format: "json", receipt: "given-receipt"})
	require.NoError(t, err)
	require.Equal(t, "json", d.format, "--format wins over the file name")
	require.Equal(t, "given-receipt", d.receipt)
}

func TestParseSubmit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc    string
		args    []string
		wantErr string // "" for success
		check   func(t *testing.T, o submitOptions, g globals)
	}{
		{
			desc: "flags after FILE",
			args: []string{"f.ndjson", "--merchant", "m1", "--data", "Category", "--skip-errors", "--gzip", "--watch", "--timeout", "5m", "--api", "http://api:1"},
			check: func(t *testing.T, o submitOptions, g globals) {
				require.Equal(t, "f.ndjson", o.file)
				require.Equal(t, "m1", o.merchant)
				require.Equal(t, "Category", o.data)
				require.True(t, o.skipErrors)
				require.True(t, o.gzip)
				require.True(t, o.watch)
				require.Equal(t, "5m0s", o.timeout.String())
				require.Equal(t, "http://api:1", g.api)
			},
		},
		{
			desc: "flags before FILE, format normalized",
			args: []string{"--merchant=m_1", "--format", "CSV", "--receipt", "abcdefgh-1", "f.txt"},
			check: func(t *testing.T, o submitOptions, _ globals) {
				require.Equal(t, "csv", o.format)
				require.Equal(t, "abcdefgh-1", o.receipt)
				require.Equal(t, "Product", o.data, "default")
			},
		},
		{
			desc:  "stdin",
			args:  []string{"-", "--merchant", "m1"},
			check: func(t *testing.T, o submitOptions, _ globals) { require.Equal(t, "-", o.file) },
		},
		{
			desc:  "after --",
			args:  []string{"--merchant", "m1", "--", "--odd-name"},
			check: func(t *testing.T, o submitOptions, _ globals) { require.Equal(t, "--odd-name", o.file) },
		},
		{desc: "no file", args: []string{"--merchant", "m1"}, wantErr: "want one FILE"},
		{desc: "two files", args: []string{"a", "b", "--merchant", "m1"}, wantErr: "want one FILE"},
		{desc: "no merchant", args: []string{"a"}, wantErr: "--merchant is required"},
		{desc: "bad merchant", args: []string{"a", "--merchant", "m.1"}, wantErr: "invalid merchant id"},
		{desc: "long merchant", args: []string{"a", "--merchant", strings.Repeat("m", 65)}, wantErr: "invalid merchant id"},
		{desc: "short receipt", args: []string{"a", "--merchant", "m1", "--receipt", "short"}, wantErr: "invalid receipt id"},
		{desc: "bad receipt", args: []string{"a", "--merchant", "m1", "--receipt", "has space 123"}, wantErr: "invalid receipt id"},
		{desc: "bad format", args: []string{"a", "--merchant", "m1", "--format", "xml"}, wantErr: "invalid --format"},
		{desc: "empty data", args: []string{"a", "--merchant", "m1", "--data", ""}, wantErr: "invalid --data"},
		{desc: "unknown data", args: []string{"a", "--merchant", "m1", "--data", "Products"},
			wantErr: `unknown --data "Products": want one of ProductType, Category, TaxCategory, CustomerGroup, Channel, Product, ProductVariant, Price, InventoryEntry (any case)`},
		{
			desc:  "data in any case, sent as the contract spells it",
			args:  []string{"a", "--merchant", "m1", "--data", "productVARIANT"},
			check: func(t *testing.T, o submitOptions, _ globals) { require.Equal(t, "ProductVariant", o.data) },
		},
		{desc: "long foreign key", args: []string{"a", "--merchant", "m1", "--foreign-key", strings.Repeat("k", 257)}, wantErr: "over the limit of 256"},
		{desc: "newline in foreign key", args: []string{"a", "--merchant", "m1", "--foreign-key", "a\r\nb"}, wantErr: "control characters"},
		{desc: "timeout without watch", args: []string{"a", "--merchant", "m1", "--timeout", "1m"}, wantErr: "--timeout needs --watch"},
		{desc: "negative timeout", args: []string{"a", "--merchant", "m1", "--watch", "--timeout", "-1s"}, wantErr: "must not be negative"},
		{desc: "unknown flag", args: []string{"a", "--merchant", "m1", "--nope"}, wantErr: "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			g := defaultGlobals(func(string) string { return "" })
			o, err := parseSubmit(&g, tt.args, io.Discard)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.True(t, isUsage(err), "a usage error: %v", err)
				require.Equal(t, exitUsage, exitCodeOf(err))
				return
			}
			require.NoError(t, err)
			tt.check(t, o, g)
		})
	}
}

func TestEncodeBody(t *testing.T) {
	t.Parallel()
	plain := []byte(`{"key":"a"}` + "\n")
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, err := zw.Write(plain)
	require.NoError(t, err)
	require.NoError(t, zw.Close())

	read := func(e encoded) []byte {
		t.Helper()
		defer e.Close()
		b, err := io.ReadAll(e)
		require.NoError(t, err)
		return b
	}
	gunzip := func(b []byte) []byte {
		t.Helper()
		zr, err := gzip.NewReader(bytes.NewReader(b))
		require.NoError(t, err)
		out, err := io.ReadAll(zr)
		require.NoError(t, err)
		return out
	}

	e, err := encodeBody("a.ndjson", bytes.NewReader(plain), false)
	require.NoError(t, err)
	require.False(t, e.gzip)
	require.Equal(t, plain, read(e), "sent as is")

	e, err = encodeBody("a.ndjson", bytes.NewReader(plain), true)
	require.NoError(t, err)
	require.True(t, e.gzip)
	require.Equal(t, plain, gunzip(read(e)), "compressed on the fly")

	e, err = encodeBody("a.ndjson", bytes.NewReader(zipped.Bytes()), true)
	require.NoError(t, err)
	require.True(t, e.gzip)
	require.False(t, e.misnamed)
	require.Equal(t, zipped.Bytes(), read(e), "already gzipped (magic bytes): not compressed twice")

	e, err = encodeBody("a.ndjson.gz", bytes.NewReader(plain), false)
	require.NoError(t, err)
	require.True(t, e.gzip, "the name says gzip")
	require.True(t, e.misnamed)
	require.Equal(t, plain, read(e))

	// Closing before the end stops the compressing goroutine.
	e, err = encodeBody("a.ndjson", bytes.NewReader(bytes.Repeat(plain, 100000)), true)
	require.NoError(t, err)
	require.NoError(t, e.Close())
}
