package ingest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
)

// The fuzz targets decode arbitrary bodies with a small record limit and
// depth, delivered in chunks of arbitrary size, and check the invariants of
// every Decoder (checkStream) plus, where the body is simple enough to know
// the answer another way, the records themselves.

var ndjsonSeeds = []string{
	"{\"a\":1}\n{\"b\":[1,{\"c\":null}]}\n",
	"\xEF\xBB\xBF{\"a\":1}\r\n\r\n  \n{\"b\":2}",
	"{\"a\":\n{\"a\" 1}\n[1]\n\"x\"\n42\nnull\n{\"a\":\"\xff\"}\n",
	"{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":[[[[1]]]]}}}}}\n",
	"{\"a\":\"" + strings.Repeat("x", 300) + "\"}\n{\"b\":2}\n",
	strings.Repeat(" ", 300) + "\n{}",
	"{\"a\":\"\\\"\\\\\\u00e9\"}\n",
	"",
	"\n\n\r",
}

var jsonSeeds = []string{
	`[{"a":1},{"b":[1,{"c":null}]}]`,
	"\xEF\xBB\xBF\n[\n  {\"a\": 1},\n  {\n    \"b\": 2\n  }\r\n]\n\n",
	"[]", "", "[", "[{\"a\":1},", "[{\"a\":1}] x", "{\"a\":1}", "\xEF\xBB[]",
	`[{"a":[},{"b":2}]`, `[{"a":{"b":1]},{"c":2}]`, `[{"a":1}},{"b":2}]`, `[{"a":{"b":1},{"c":2}]`,
	`[{"a":"],}{[\"\\"},{"b":"\\","c":"\"]"}]`,
	"[1, \"x,]\", null, [1,[2]], true, {\"a\":1}]",
	"[{\"a\":1},,{\"b\":2},]", "[,]", "[{\"a\":\"\xff\"}]",
	"[" + strings.Repeat(`{"x":[`, 20) + strings.Repeat("]}", 20) + ",{\"b\":1}]",
	"[{\"a\":\"" + strings.Repeat("x", 300) + "\"},{\"b\":2}]",
}

var csvSeeds = []string{
	"key,name.en,name.de\nk1,Hello,Hallo\nk2,World,\n",
	"\xEF\xBB\xBF\"key\",\" name \"\r\nk1,a\r\n",
	"a,b\n1,2\n1\n1,2,3\n\"x\ny\"\n3,4\n",
	"a,b\n1,x\"y\n\"x\"y,2\n\"x\ny\"z,\"p\nq\"\n\"abc,3\n",
	"k,qty,price,flag\na,42,1.5,TRUE\nb,-7, 1e3 ,False\nd,007,.5,1\n",
	"key,categories.10.key,categories.2.key,categories.0.key,v.p.01.c\nk1,c10,c2,c0,x\nk2,,,,\n",
	"2024,a.2024.x\n1,2\n", "\"a\"\"b\",c\\d\n1,\"\x01\t\"\n", "a,b\n1,\xff\n",
	"a,,b\n", "a,a\n", "name,name.en\n", "a.0,a.x\n", "a..b\n", "a.0,a.00\n", "a.b.c.d.e.f.g.h.i\n",
	"", "a,b\n", "a\n" + strings.Repeat("x", 300) + "\n1\n",
}

// fuzzConfig is a small record limit and depth, and kinds by column suffix.
func fuzzConfig(limit uint16, depth uint8) DecoderConfig {
	return DecoderConfig{
		MaxRecordBytes: 1 + int(limit%1024),
		MaxDepth:       1 + int(depth%8),
		ColumnKind: func(column string) catalog.Kind {
			switch {
			case strings.HasSuffix(column, "qty"):
				return catalog.KindInt
			case strings.HasSuffix(column, "price"):
				return catalog.KindNumber
			case strings.HasSuffix(column, "flag"):
				return catalog.KindBool
			}
			return catalog.KindString
		},
	}
}

// chunkedReader returns at most n bytes a read.
type chunkedReader struct {
	data []byte
	n    int
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// fuzzReader delivers body whole (chunk 0) or chunk bytes at a time.
func fuzzReader(body []byte, chunk uint8) io.Reader {
	if chunk == 0 {
		return bytes.NewReader(body)
	}
	return &chunkedReader{data: body, n: int(chunk)}
}

func addSeeds(f *testing.F, seeds []string) {
	for _, s := range seeds {
		f.Add([]byte(s), uint16(1000), uint8(63), uint8(0))
		f.Add([]byte(s), uint16(15), uint8(2), uint8(1))
		f.Add([]byte(s), uint16(200), uint8(3), uint8(7))
	}
}

// checkStream decodes the whole stream and checks the invariants every
// decoder keeps, returning the records and the terminal error.
func checkStream(t *testing.T, dec Decoder, bodyLen int, cfg DecoderConfig) ([]RawRecord, error) {
	var recs []RawRecord
	line := 1
	for {
		require.LessOrEqual(t, len(recs), bodyLen+1, "decoder does not terminate")
		rec, err := dec.Next()
		if err != nil {
			if err != io.EOF {
				var ce *ContainerError
				require.True(t, errors.As(err, &ce), "terminal error %T %v", err, err)
				require.Contains(t, []string{CodeMalformedContainer, catalog.CodeRecordTooLarge}, ce.Code, err.Error())
				require.NotNil(t, ce.Err)
				require.GreaterOrEqual(t, ce.Line, 1)
			}
			_, again := dec.Next()
			require.Equal(t, err, again, "terminal error is not sticky")
			return recs, err
		}
		require.Equal(t, len(recs), rec.Index)
		require.GreaterOrEqual(t, rec.Line, line, "lines go backwards")
		line = rec.Line
		if rec.Err == nil {
			require.True(t, json.Valid(rec.Data), "invalid JSON %q", rec.Data)
			require.True(t, utf8.Valid(rec.Data), "invalid UTF-8 %q", rec.Data)
			require.Equal(t, byte('{'), rec.Data[0], "not an object %q", rec.Data)
			require.LessOrEqual(t, len(rec.Data), cfg.MaxRecordBytes)
			require.LessOrEqual(t, jsonDepth(t, rec.Data), cfg.MaxDepth, "too deep %q", rec.Data)
		} else {
			require.Nil(t, rec.Data)
			require.Equal(t, catalog.DataError, rec.Err.Type)
			require.Contains(t, []string{catalog.CodeMalformedRecord, catalog.CodeRecordTooLarge}, rec.Err.Code)
			require.True(t, strings.HasPrefix(rec.Err.Description, fmt.Sprintf("line %d: ", rec.Line)), rec.Err.Description)
		}
		recs = append(recs, rec)
	}
}

// jsonDepth measures the nesting of valid JSON with encoding/json's tokenizer.
// Numbers stay text: a valid number such as 1e700 is beyond float64.
func jsonDepth(t *testing.T, data []byte) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return deepest
		}
		require.NoError(t, err)
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// expectRecord says what a decoder must make of one record's bytes: its
// data, or the code of its error.
func expectRecord(t *testing.T, data []byte, size int, cfg DecoderConfig) (string, []byte) {
	switch {
	case size > cfg.MaxRecordBytes:
		return catalog.CodeRecordTooLarge, nil
	case !json.Valid(data), !utf8.Valid(data), data[0] != '{', jsonDepth(t, data) > cfg.MaxDepth:
		return catalog.CodeMalformedRecord, nil
	}
	return "", data
}

func requireRecord(t *testing.T, rec RawRecord, line int, code string, data []byte) {
	require.Equal(t, line, rec.Line, "record %d", rec.Index)
	if code == "" {
		require.Nil(t, rec.Err, "record %d", rec.Index)
		require.Equal(t, string(data), string(rec.Data), "record %d", rec.Index)
		return
	}
	require.NotNil(t, rec.Err, "record %d", rec.Index)
	require.Equal(t, code, rec.Err.Code, "record %d", rec.Index)
}

func FuzzNDJSON(f *testing.F) {
	addSeeds(f, ndjsonSeeds)
	f.Fuzz(func(t *testing.T, body []byte, limit uint16, depth uint8, chunk uint8) {
		cfg := fuzzConfig(limit, depth)
		recs, err := checkStream(t, NewDecoder(FormatNDJSON, fuzzReader(body, chunk), cfg), len(body), cfg)
		require.Equal(t, io.EOF, err)
		// Each non-blank line is one record.
		lines := bytes.Split(bytes.TrimPrefix(body, utf8BOM), []byte("\n"))
		n := 0
		for i, l := range lines {
			l = bytes.TrimSuffix(l, []byte("\r"))
			if isJSONBlank(l) {
				continue
			}
			require.Greater(t, len(recs), n, "line %d is missing", i+1)
			code, data := expectRecord(t, bytes.Trim(l, " \t\r"), len(l), cfg)
			requireRecord(t, recs[n], i+1, code, data)
			n++
		}
		require.Len(t, recs, n)
	})
}

func FuzzJSONArray(f *testing.F) {
	addSeeds(f, jsonSeeds)
	f.Fuzz(func(t *testing.T, body []byte, limit uint16, depth uint8, chunk uint8) {
		cfg := fuzzConfig(limit, depth)
		recs, err := checkStream(t, NewDecoder(FormatJSON, fuzzReader(body, chunk), cfg), len(body), cfg)
		// A valid JSON array comes out element by element.
		trimmed := bytes.TrimPrefix(body, utf8BOM)
		var elems []json.RawMessage
		if json.Unmarshal(trimmed, &elems) != nil || elems == nil {
			return
		}
		require.Equal(t, io.EOF, err)
		require.Len(t, recs, len(elems))
		for i, e := range elems {
			code, data := expectRecord(t, e, len(e), cfg)
			line := 1 + bytes.Count(trimmed[:elementOffset(trimmed, i)], []byte("\n"))
			requireRecord(t, recs[i], line, code, data)
		}
	})
}

// elementOffset returns the offset of element i of a valid JSON array.
func elementOffset(array []byte, i int) int {
	dec := json.NewDecoder(bytes.NewReader(array))
	_, _ = dec.Token() // '['
	for range i {
		var skip json.RawMessage
		_ = dec.Decode(&skip)
	}
	off := int(dec.InputOffset())
	for off < len(array) && (isJSONSpace(array[off]) || array[off] == ',') {
		off++
	}
	return off
}

func FuzzCSV(f *testing.F) {
	addSeeds(f, csvSeeds)
	f.Fuzz(func(t *testing.T, body []byte, limit uint16, depth uint8, chunk uint8) {
		cfg := fuzzConfig(limit, depth)
		recs, err := checkStream(t, NewDecoder(FormatCSV, fuzzReader(body, chunk), cfg), len(body), cfg)
		if err != io.EOF || bytes.HasPrefix(body, utf8BOM) {
			return
		}
		// Rows encoding/csv reads without error come out one for one, their
		// non-empty cells as the leaves of the object.
		r := csv.NewReader(bytes.NewReader(body))
		r.FieldsPerRecord = -1
		rows, csvErr := r.ReadAll()
		if csvErr != nil || len(rows) == 0 {
			return
		}
		require.Len(t, recs, len(rows)-1)
		for i, row := range rows[1:] {
			if recs[i].Err != nil {
				continue
			}
			require.Len(t, row, len(rows[0]))
			require.Equal(t, wantLeaves(rows[0], row, cfg), leaves(t, recs[i].Data), "row %d: %q", i+1, recs[i].Data)
		}
	})
}

// wantLeaves renders the non-empty cells of a row as leaves (see leaves), sorted.
func wantLeaves(header, row []string, cfg DecoderConfig) []string {
	var out []string
	for i, cell := range row {
		if cell == "" {
			continue
		}
		v := strings.TrimSpace(cell)
		switch kind := cfg.ColumnKind(strings.TrimSpace(header[i])); {
		case kind == catalog.KindInt && isJSONInt(v), kind == catalog.KindNumber && isJSONNumber(v):
			out = append(out, "number "+v)
		case kind == catalog.KindBool && (strings.EqualFold(v, "true") || strings.EqualFold(v, "false")):
			out = append(out, "bool "+strings.ToLower(v))
		default:
			out = append(out, "string "+cell)
		}
	}
	slices.Sort(out)
	return out
}

// leaves renders the scalar values of a JSON document as "<type> <value>", sorted.
func leaves(t *testing.T, data []byte) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		case string:
			out = append(out, "string "+v)
		case json.Number:
			out = append(out, "number "+v.String())
		case bool:
			out = append(out, fmt.Sprint("bool ", v))
		default:
			t.Fatalf("unexpected value %#v in %q", v, data)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v))
	walk(v)
	slices.Sort(out)
	return out
}
