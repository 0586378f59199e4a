package ingest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
)

// wantRecord is one expected record: Data when code is empty, else an Err of that
// code whose description contains desc.
type wantRecord struct {
	line int
	data string
	code string
	desc string
}

func okRec(line int, data string) wantRecord { return wantRecord{line: line, data: data} }

func badRec(line int, desc string) wantRecord {
	return wantRecord{line: line, code: catalog.CodeMalformedRecord, desc: desc}
}

func bigRec(line int) wantRecord {
	return wantRecord{line: line, code: catalog.CodeRecordTooLarge, desc: "larger than the limit"}
}

// wantEnd is the expected terminal error: io.EOF when code is empty.
type wantEnd struct {
	code string
	line int
	msg  string
}

// decodeCase is one table test of a decoder.
type decodeCase struct {
	name string
	body string
	cfg  DecoderConfig
	want []wantRecord
	end  wantEnd
}

// decodeAll reads every record of dec up to its terminal error, checking that
// the error is sticky and that dec terminates.
func decodeAll(t testing.TB, dec Decoder, bodyLen int) ([]RawRecord, error) {
	t.Helper()
	var recs []RawRecord
	for {
		rec, err := dec.Next()
		if err != nil {
			_, again := dec.Next()
			require.Equal(t, err, again, "terminal error is not sticky")
			return recs, err
		}
		recs = append(recs, rec)
		require.LessOrEqual(t, len(recs), bodyLen+1, "decoder does not terminate")
	}
}

// testReaders wraps a body in testReaders that deliver it differently.
var testReaders = map[string]func(string) io.Reader{
	"whole":    func(s string) io.Reader { return strings.NewReader(s) },
	"one-byte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
	"half":     func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) },
	"data-err": func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) },
}

// runDecodeCases runs each case with each reader of testReaders.
func runDecodeCases(t *testing.T, f Format, cases []decodeCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for name, wrap := range testReaders {
				recs, err := decodeAll(t, NewDecoder(f, wrap(tt.body), tt.cfg), len(tt.body))
				checkRecords(t, name, recs, tt.want)
				checkEnd(t, name, err, tt.end)
			}
		})
	}
}

func checkRecords(t *testing.T, reader string, recs []RawRecord, wants []wantRecord) {
	t.Helper()
	require.Len(t, recs, len(wants), "%s reader: records %s", reader, dumpRecords(recs))
	for i, w := range wants {
		rec := recs[i]
		msg := fmt.Sprintf("%s reader, record %d: %s", reader, i, dumpRecords(recs[i:i+1]))
		require.Equal(t, i, rec.Index, msg)
		require.Equal(t, w.line, rec.Line, msg)
		if w.code == "" {
			require.Nil(t, rec.Err, msg)
			require.JSONEq(t, w.data, string(rec.Data), msg)
			continue
		}
		require.Nil(t, rec.Data, msg)
		require.NotNil(t, rec.Err, msg)
		require.Equal(t, catalog.DataError, rec.Err.Type, msg)
		require.Equal(t, w.code, rec.Err.Code, msg)
		require.True(t, strings.HasPrefix(rec.Err.Description, fmt.Sprintf("line %d: ", w.line)), msg)
		require.Contains(t, rec.Err.Description, w.desc, msg)
	}
}

func checkEnd(t *testing.T, reader string, err error, want wantEnd) {
	t.Helper()
	if want.code == "" {
		require.ErrorIs(t, err, io.EOF, "%s reader", reader)
		return
	}
	var ce *ContainerError
	require.ErrorAs(t, err, &ce, "%s reader", reader)
	require.Equal(t, want.code, ce.Code, "%s reader: %v", reader, err)
	require.Equal(t, want.line, ce.Line, "%s reader: %v", reader, err)
	require.Contains(t, ce.Error(), want.msg, "%s reader", reader)
}

// dump renders records for failure messages.
func dumpRecords(recs []RawRecord) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "\n  #%d line %d data %s err %v", r.Index, r.Line, r.Data, r.Err)
	}
	return b.String()
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for in, f := range map[string]Format{"": FormatNDJSON, "ndjson": FormatNDJSON, "NDJSON": FormatNDJSON,
		" Json ": FormatJSON, "CSV": FormatCSV} {
		got, err := ParseFormat(in)
		require.NoError(t, err, in)
		require.Equal(t, f, got, in)
	}
	_, err := ParseFormat("xml")
	require.ErrorIs(t, err, ErrUnknownFormat)
}

func TestDecodeUnknownFormat(t *testing.T) {
	t.Parallel()
	_, err := NewDecoder("xml", strings.NewReader("{}"), DecoderConfig{}).Next()
	var ce *ContainerError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, CodeMalformedContainer, ce.Code)
	require.ErrorIs(t, err, ErrUnknownFormat)
}

func TestDecodeNDJSON(t *testing.T) {
	t.Parallel()
	small := DecoderConfig{MaxRecordBytes: 16}
	long := strings.Repeat("x", 100)
	runDecodeCases(t, FormatNDJSON, []decodeCase{
		{name: "records", body: "{\"a\":1}\n{\"b\":[1,{\"c\":null}]}\n",
			want: []wantRecord{okRec(1, `{"a":1}`), okRec(2, `{"b":[1,{"c":null}]}`)}},
		{name: "no final newline", body: "{\"a\":1}\n{\"b\":2}",
			want: []wantRecord{okRec(1, `{"a":1}`), okRec(2, `{"b":2}`)}},
		{name: "blank lines", body: "\n{\"a\":1}\n   \n\t\r\n{\"b\":2}\n\n \n",
			want: []wantRecord{okRec(2, `{"a":1}`), okRec(5, `{"b":2}`)}},
		{name: "crlf", body: "{\"a\":1}\r\n\r\n{\"b\":2}\r\n",
			want: []wantRecord{okRec(1, `{"a":1}`), okRec(3, `{"b":2}`)}},
		{name: "surrounding spaces", body: "  {\"a\":1}\t \n",
			want: []wantRecord{okRec(1, `{"a":1}`)}},
		{name: "bom", body: "\xEF\xBB\xBF{\"a\":1}\n{\"b\":2}\n",
			want: []wantRecord{okRec(1, `{"a":1}`), okRec(2, `{"b":2}`)}},
		{name: "bom before blank line", body: "\xEF\xBB\xBF\n{\"b\":2}\n",
			want: []wantRecord{okRec(2, `{"b":2}`)}},
		{name: "bom only at start", body: "{\"a\":1}\n\xEF\xBB\xBF{\"b\":2}\n",
			want: []wantRecord{okRec(1, `{"a":1}`), badRec(2, "invalid JSON")}},
		{name: "malformed in the middle", body: "{\"a\":1}\n{\"a\":\n{\"a\" 1}\n{\"b\":2}\n",
			want: []wantRecord{okRec(1, `{"a":1}`), badRec(2, "invalid JSON: unexpected end of JSON input"),
				badRec(3, "invalid JSON: invalid character '1' after object key (offset 5)"), okRec(4, `{"b":2}`)}},
		{name: "two values on a line", body: "{\"a\":1} {\"b\":2}\n{\"c\":3}\n",
			want: []wantRecord{badRec(1, "invalid JSON"), okRec(2, `{"c":3}`)}},
		{name: "not objects", body: "[1]\n\"x\"\n42\nnull\ntrue\n{\"a\":1}\n",
			want: []wantRecord{badRec(1, "not a JSON object but an array"), badRec(2, "not a JSON object but a string"),
				badRec(3, "not a JSON object but a number"), badRec(4, "not a JSON object but null"),
				badRec(5, "not a JSON object but a boolean"), okRec(6, `{"a":1}`)}},
		{name: "invalid utf-8", body: "{\"a\":\"\xff\"}\n{\"b\":\"\xc3\xa9\"}\n",
			want: []wantRecord{badRec(1, "invalid UTF-8 at offset 6"), okRec(2, `{"b":"é"}`)}},
		{name: "depth at limit", cfg: DecoderConfig{MaxDepth: 3},
			body: "{\"a\":{\"b\":[1,\"]]]]\"]}}\n{\"a\":{\"b\":[[1]]}}\n{\"c\":1}\n",
			want: []wantRecord{okRec(1, `{"a":{"b":[1,"]]]]"]}}`), badRec(2, "nesting deeper than 3 levels"), okRec(3, `{"c":1}`)}},
		{name: "depth default", body: `{"a":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + "}\n{\"b\":1}",
			want: []wantRecord{badRec(1, "nesting deeper than 64 levels"), okRec(2, `{"b":1}`)}},
		{name: "record at the limit", cfg: small, body: "{\"a\":\"12345678\"}\r\n{\"a\":\"123456789\"}\n{\"b\":2}\n",
			want: []wantRecord{okRec(1, `{"a":"12345678"}`), bigRec(2), okRec(3, `{"b":2}`)}},
		{name: "record far over the limit", cfg: small,
			body: "{\"a\":1}\n{\"a\":\"" + long + "\"}\n{\"b\":2}\n{\"c\":\"" + long + "\"}",
			want: []wantRecord{okRec(1, `{"a":1}`), bigRec(2), okRec(3, `{"b":2}`), bigRec(4)}},
		{name: "first line over the limit with bom", cfg: small, body: "\xEF\xBB\xBF" + long + "\n{\"b\":2}\n",
			want: []wantRecord{bigRec(1), okRec(2, `{"b":2}`)}},
		{name: "long blank line", cfg: small, body: strings.Repeat(" ", 100) + "\n{\"b\":2}\n",
			want: []wantRecord{okRec(2, `{"b":2}`)}},
		{name: "empty body", body: ""},
		{name: "blank body", body: " \n\r\n\t"},
	})
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	small := DecoderConfig{MaxRecordBytes: 16}
	runDecodeCases(t, FormatJSON, []decodeCase{
		{name: "records", body: `[{"a":1},{"b":[1,{"c":null}]}]`,
			want: []wantRecord{okRec(1, `{"a":1}`), okRec(1, `{"b":[1,{"c":null}]}`)}},
		{name: "pretty", body: "\n[\n  {\"a\": 1},\n  {\n    \"b\": 2\n  }\r\n]\n\n",
			want: []wantRecord{okRec(3, `{"a":1}`), okRec(4, `{"b":2}`)}},
		{name: "bom", body: "\xEF\xBB\xBF [{\"a\":1}]",
			want: []wantRecord{okRec(1, `{"a":1}`)}},
		{name: "empty array", body: " [ \n ] \n"},
		{name: "empty body", body: ""},
		{name: "blank body", body: " \n "},
		{name: "not an array", body: "{\"a\":1}", end: wantEnd{CodeMalformedContainer, 1, "not a JSON array"}},
		{name: "ndjson sent as json", body: "\n{\"a\":1}\n{\"b\":2}\n", end: wantEnd{CodeMalformedContainer, 2, "not a JSON array"}},
		{name: "broken bom", body: "\xEF\xBB[]", end: wantEnd{CodeMalformedContainer, 1, "incomplete byte order mark"}},
		{name: "truncated in element", body: "[{\"a\":1},\n{\"b\":",
			want: []wantRecord{okRec(1, `{"a":1}`)}, end: wantEnd{CodeMalformedContainer, 2, "before the closing ']'"}},
		{name: "truncated after comma", body: "[{\"a\":1},\n",
			want: []wantRecord{okRec(1, `{"a":1}`)}, end: wantEnd{CodeMalformedContainer, 2, "before the closing ']'"}},
		{name: "truncated after open", body: "[", end: wantEnd{CodeMalformedContainer, 1, "before the closing ']'"}},
		{name: "data after the array", body: "[{\"a\":1}]\n\nx",
			want: []wantRecord{okRec(1, `{"a":1}`)}, end: wantEnd{CodeMalformedContainer, 3, `unexpected 'x' after the end`}},
		{name: "second array", body: "[][]", end: wantEnd{CodeMalformedContainer, 1, "after the end"}},
		{name: "malformed in the middle", body: "[{\"a\":1},\n{\"a\":tru},\n{\"b\":2}]",
			want: []wantRecord{okRec(1, `{"a":1}`), badRec(2, "invalid JSON: invalid character '}'"), okRec(3, `{"b":2}`)}},
		{name: "mismatched closer", body: "[{\"a\":[},\n{\"b\":2}]",
			want: []wantRecord{badRec(1, "invalid JSON"), okRec(2, `{"b":2}`)}},
		{name: "mismatched closer without opener", body: "[{\"a\":{\"b\":1]},\n{\"c\":2}]",
			want: []wantRecord{badRec(1, "invalid JSON"), okRec(2, `{"c":2}`)}},
		{name: "missing inner closer", body: "[{\"a\":[{\"b\":1]},\n{\"c\":2}]",
			want: []wantRecord{badRec(1, "invalid JSON"), okRec(2, `{"c":2}`)}},
		{name: "stray closer", body: "[{\"a\":1}},\n{\"b\":2}]",
			want: []wantRecord{badRec(1, "invalid JSON"), okRec(2, `{"b":2}`)}},
		{name: "missing closer swallows the rest", body: "[{\"a\":{\"b\":1},\n{\"c\":2}]",
			end: wantEnd{CodeMalformedContainer, 2, "before the closing ']'"}},
		{name: "strings hide brackets", body: `[{"a":"],}{[\"\\"},{"b":"\\","c":"\"]"}]`,
			want: []wantRecord{okRec(1, `{"a":"],}{[\"\\"}`), okRec(1, `{"b":"\\","c":"\"]"}`)}},
		{name: "raw newline in a string", body: "[{\"a\":\"x\ny\"},\n{\"b\":1}]",
			want: []wantRecord{badRec(1, "invalid JSON"), okRec(3, `{"b":1}`)}},
		{name: "not objects", body: "[1, \"x,]\", null, [1,[2]], true, {\"a\":1}]",
			want: []wantRecord{badRec(1, "not a JSON object but a number"), badRec(1, "but a string"), badRec(1, "but null"),
				badRec(1, "but an array"), badRec(1, "but a boolean"), okRec(1, `{"a":1}`)}},
		{name: "empty elements", body: "[{\"a\":1},,\n{\"b\":2},]",
			want: []wantRecord{okRec(1, `{"a":1}`), badRec(1, "empty array element"), okRec(2, `{"b":2}`), badRec(2, "empty array element")}},
		{name: "only commas", body: "[,]",
			want: []wantRecord{badRec(1, "empty array element"), badRec(1, "empty array element")}},
		{name: "invalid utf-8", body: "[{\"a\":\"\xff\"},{\"b\":\"\xc3\xa9\"}]",
			want: []wantRecord{badRec(1, "invalid UTF-8 at offset 6"), okRec(1, `{"b":"é"}`)}},
		{name: "depth", cfg: DecoderConfig{MaxDepth: 2},
			body: `[{"a":[1]},{"a":[[1]]},{"a":{"b":{}}},{"c":1}]`,
			want: []wantRecord{okRec(1, `{"a":[1]}`), badRec(1, "nesting deeper than 2 levels"), badRec(1, "nesting deeper"), okRec(1, `{"c":1}`)}},
		{name: "deep beyond the stack", cfg: DecoderConfig{MaxDepth: 2},
			body: "[" + strings.Repeat(`{"x":[`, 50) + strings.Repeat("]}", 50) + ",{\"b\":1}]",
			want: []wantRecord{badRec(1, "nesting deeper"), okRec(1, `{"b":1}`)}},
		{name: "record at the limit", cfg: small, body: "[{\"a\":\"12345678\"}  \n,{\"a\":\"123456789\"},{\"b\":2}]",
			want: []wantRecord{okRec(1, `{"a":"12345678"}`), bigRec(2), okRec(2, `{"b":2}`)}},
		{name: "record over the limit", cfg: small,
			body: "[{\"a\":1},\n{\"a\":\"" + strings.Repeat("],", 100) + "\"},{\"b\":2},{\"c\":[" + strings.Repeat("1,", 100) + "1]}]",
			want: []wantRecord{okRec(1, `{"a":1}`), bigRec(2), okRec(2, `{"b":2}`), bigRec(2)}},
	})
}

func TestDecodeCSV(t *testing.T) {
	t.Parallel()
	kinds := func(col string) catalog.Kind {
		switch {
		case strings.HasSuffix(col, "qty"):
			return catalog.KindInt
		case strings.HasSuffix(col, "price"):
			return catalog.KindNumber
		case strings.HasSuffix(col, "flag"):
			return catalog.KindBool
		}
		return catalog.KindString
	}
	runDecodeCases(t, FormatCSV, []decodeCase{
		{name: "records", body: "key,name.en,name.de\nk1,Hello,Hallo\nk2,World,\n",
			want: []wantRecord{okRec(2, `{"key":"k1","name":{"en":"Hello","de":"Hallo"}}`), okRec(3, `{"key":"k2","name":{"en":"World"}}`)}},
		{name: "crlf and no final newline", body: "key,name\r\nk1,a\r\nk2,b",
			want: []wantRecord{okRec(2, `{"key":"k1","name":"a"}`), okRec(3, `{"key":"k2","name":"b"}`)}},
		{name: "bom and quoted header", body: "\xEF\xBB\xBF\"key\",\" name \"\nk1,a\n",
			want: []wantRecord{okRec(2, `{"key":"k1","name":"a"}`)}},
		{name: "trimmed names", body: " key ,\tname.en \nk1,a\n",
			want: []wantRecord{okRec(2, `{"key":"k1","name":{"en":"a"}}`)}},
		{name: "blank lines", body: "\nkey\n\nk1\n\n\nk2\n",
			want: []wantRecord{okRec(4, `{"key":"k1"}`), okRec(7, `{"key":"k2"}`)}},
		{name: "quoted fields", body: "key,text\nk1,\"a,\"\"b\"\"\nc\"\nk2,\"\\ \t\x01\"\n",
			want: []wantRecord{okRec(2, `{"key":"k1","text":"a,\"b\"\nc"}`), okRec(4, `{"key":"k2","text":"\\ \t\u0001"}`)}},
		{name: "empty cells", body: "key,a.b,a.c,d.0\nk1,,,\n,,,\n",
			want: []wantRecord{okRec(2, `{"key":"k1"}`), okRec(3, `{}`)}},
		{name: "ragged rows", body: "a,b\n1,2\n1\n1,2,3\n\"x\ny\"\n3,4\n",
			want: []wantRecord{okRec(2, `{"a":"1","b":"2"}`), badRec(3, "1 fields, header has 2"), badRec(4, "3 fields, header has 2"),
				badRec(5, "1 fields, header has 2"), okRec(7, `{"a":"3","b":"4"}`)}},
		{name: "bare quote", body: "a,b\n1,x\"y\n3,4\n",
			want: []wantRecord{badRec(2, `invalid CSV at column 4: bare " in non-quoted-field`), okRec(3, `{"a":"3","b":"4"}`)}},
		{name: "bare quote in first field", body: "a,b\nx\"y,1\n3,4\n",
			want: []wantRecord{badRec(2, "bare"), okRec(3, `{"a":"3","b":"4"}`)}},
		{name: "text after quoted field", body: "a,b\n\"x\"y,2\n3,4\n",
			want: []wantRecord{badRec(2, `extraneous or missing " in quoted-field`), okRec(3, `{"a":"3","b":"4"}`)}},
		// encoding/csv resumes at the line after the error: the rest of a
		// broken multi-line field comes back as rows of its own.
		{name: "text after multi-line quoted field", body: "a,b\n\"x\ny\"z,\"p\nq\"\n3,4\n",
			want: []wantRecord{badRec(2, "invalid CSV at line 3, column 2"), badRec(4, "bare"), okRec(5, `{"a":"3","b":"4"}`)}},
		// ... and may even come back as a well-formed row of its own.
		{name: "phantom row after a broken multi-line field", body: "a,b\n\"x\ny\"z,\"p\n1,2\n\"\n",
			want: []wantRecord{badRec(2, "invalid CSV at line 3"), okRec(4, `{"a":"1","b":"2"}`), badRec(5, "extraneous or missing")}},
		{name: "unterminated quote", body: "a,b\n1,2\n\"abc,3\n4,5\n",
			want: []wantRecord{okRec(2, `{"a":"1","b":"2"}`), badRec(3, "extraneous or missing")}},
		{name: "typed cells", cfg: DecoderConfig{ColumnKind: kinds},
			body: "k,qty,price,flag\n" +
				"a,42,1.5,TRUE\n" +
				"b,-7, 1e3 ,False\n" +
				"c,12345678901234567890123,-0.25E-2,yes\n" +
				"d,007,.5,1\n" +
				"e,1.0,1.,\n" +
				"f,+1,NaN,t\n",
			want: []wantRecord{okRec(2, `{"k":"a","qty":42,"price":1.5,"flag":true}`),
				okRec(3, `{"k":"b","qty":-7,"price":1e3,"flag":false}`),
				okRec(4, `{"k":"c","qty":12345678901234567890123,"price":-0.25E-2,"flag":"yes"}`),
				okRec(5, `{"k":"d","qty":"007","price":".5","flag":"1"}`),
				okRec(6, `{"k":"e","qty":"1.0","price":"1."}`),
				okRec(7, `{"k":"f","qty":"+1","price":"NaN","flag":"t"}`)}},
		{name: "nested arrays", body: "key,categories.10.key,categories.2.key,categories.0.key," +
			"masterVariant.prices.0.value.centAmount,masterVariant.prices.0.value.currencyCode,masterVariant.prices.01.country\n" +
			"k1,c10,c2,c0,100,EUR,DE\n" +
			"k2,c10,,c0,,,\n" +
			"k3,,,,,,FR\n",
			want: []wantRecord{
				okRec(2, `{"key":"k1","categories":[{"key":"c0"},{"key":"c2"},{"key":"c10"}],"masterVariant":{"prices":[{"value":{"centAmount":"100","currencyCode":"EUR"}},{"country":"DE"}]}}`),
				okRec(3, `{"key":"k2","categories":[{"key":"c0"},{"key":"c10"}]}`),
				okRec(4, `{"key":"k3","masterVariant":{"prices":[{"country":"FR"}]}}`)}},
		{name: "leaf arrays", body: "tags.1,tags.0\nb,a\n,a\n",
			want: []wantRecord{okRec(2, `{"tags":["a","b"]}`), okRec(3, `{"tags":["a"]}`)}},
		{name: "digits as top-level key", body: "2024,a.2024.x\n1,2\n",
			want: []wantRecord{okRec(2, `{"2024":"1","a":[{"x":"2"}]}`)}},
		{name: "escaped keys", body: "\"a\"\"b\",c\\d\n1,2\n",
			want: []wantRecord{okRec(2, `{"a\"b":"1","c\\d":"2"}`)}},
		{name: "invalid utf-8 cell", body: "a,b\n1,\xff\n3,4\n",
			want: []wantRecord{badRec(2, "column 2: invalid UTF-8 at offset 0"), okRec(3, `{"a":"3","b":"4"}`)}},
		{name: "record at the limit", cfg: DecoderConfig{MaxRecordBytes: 20}, body: "a,b\n1,1234\n1,12345\n1,2\n",
			want: []wantRecord{okRec(2, `{"a":"1","b":"1234"}`), bigRec(3), okRec(4, `{"a":"1","b":"2"}`)}},
		{name: "empty body", body: ""},
		{name: "header only", body: "a,b\n"},
		{name: "header only with bom and blank lines", body: "\xEF\xBB\xBFa,b\r\n\r\n\n"},
		{name: "empty name", body: "a,,b\n1,2,3\n", end: wantEnd{CodeMalformedContainer, 1, "column 2 has no name"}},
		{name: "blank name", body: "\na, \n1,2\n", end: wantEnd{CodeMalformedContainer, 2, "column 2 has no name"}},
		{name: "duplicate name", body: "a,b, a\n", end: wantEnd{CodeMalformedContainer, 1, `column 3 "a" duplicates column 1`}},
		{name: "leaf then object", body: "name,name.en\n", end: wantEnd{CodeMalformedContainer, 1, `column 2 "name.en" conflicts with column 1 "name"`}},
		{name: "object then leaf", body: "name.en,name\n", end: wantEnd{CodeMalformedContainer, 1, `column 2 "name" conflicts with column 1 "name.en"`}},
		{name: "array then object", body: "a.0,a.x\n", end: wantEnd{CodeMalformedContainer, 1, `column 2 "a.x" conflicts with column 1 "a.0"`}},
		{name: "object then array", body: "a.x.y,a.0\n", end: wantEnd{CodeMalformedContainer, 1, `column 2 "a.0" conflicts with column 1 "a.x.y"`}},
		{name: "same index", body: "a.0,a.00\n", end: wantEnd{CodeMalformedContainer, 1, `column 2 "a.00" conflicts with column 1 "a.0"`}},
		{name: "empty segment", body: "a,b..c\n", end: wantEnd{CodeMalformedContainer, 1, `column 2 "b..c" has an empty path segment`}},
		{name: "leading dot", body: ".a\n", end: wantEnd{CodeMalformedContainer, 1, "empty path segment"}},
		{name: "trailing dot", body: "a.\n", end: wantEnd{CodeMalformedContainer, 1, "empty path segment"}},
		{name: "invalid utf-8 name", body: "a,\xff\n", end: wantEnd{CodeMalformedContainer, 1, "column 2: invalid UTF-8"}},
		{name: "too deep name", cfg: DecoderConfig{MaxDepth: 3}, body: "a.b.c,a.b.c.d\n",
			end: wantEnd{CodeMalformedContainer, 1, "nests deeper than 3 levels"}},
		{name: "bad quote in header", body: "a,b\"\n1,2\n", end: wantEnd{CodeMalformedContainer, 1, "bad CSV header"}},
	})
}

// TestDecodeCSVRowTooLarge checks that a row too large to buffer stops the
// delivery, after the rows before it.
func TestDecodeCSVRowTooLarge(t *testing.T) {
	t.Parallel()
	for _, field := range []string{strings.Repeat("x", 200<<10), `"` + strings.Repeat("x\n", 100<<10) + `"`} {
		body := "a,b\n1,2\n\n\"p\nq\",3\n4," + field + "\n5,6\n"
		for name, wrap := range testReaders {
			recs, err := decodeAll(t, NewDecoder(FormatCSV, wrap(body), DecoderConfig{MaxRecordBytes: 1 << 10}), len(body))
			checkRecords(t, name, recs, []wantRecord{okRec(2, `{"a":"1","b":"2"}`), okRec(4, `{"a":"p\nq","b":"3"}`)})
			checkEnd(t, name, err, wantEnd{catalog.CodeRecordTooLarge, 6, "csv row larger than the limit of 1024 bytes"})
		}
	}
}

var errReadBoom = errors.New("boom")

// sizeLimitError is an error type a wrapping reader might return.
type sizeLimitError struct{ limit int64 }

func (e *sizeLimitError) Error() string { return fmt.Sprintf("body over %d bytes", e.limit) }

// failingReader returns its body, then err.
func failingReader(body string, err error) io.Reader {
	return io.MultiReader(strings.NewReader(body), iotest.ErrReader(err))
}

// corruptGzip returns a gzip reader of body whose checksum is wrong.
func corruptGzip(t *testing.T, body string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write([]byte(body))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	z := buf.Bytes()
	z[len(z)-8] ^= 0xFF // CRC-32
	zr, err := gzip.NewReader(bytes.NewReader(z))
	require.NoError(t, err)
	return zr
}

func TestDecodeReadError(t *testing.T) {
	t.Parallel()
	valid := map[Format]string{
		FormatNDJSON: "{\"a\":1}\n{\"b\":2}\n",
		FormatJSON:   "[{\"a\":1},\n{\"b\":2}]",
		FormatCSV:    "a\n1\n2\n",
	}
	partial := map[Format]string{ // one whole record, then part of one
		FormatNDJSON: "{\"a\":1}\n{\"b\":",
		FormatJSON:   "[{\"a\":1},\n{\"b\":",
		FormatCSV:    "a\n1\n2",
	}
	for _, f := range []Format{FormatNDJSON, FormatJSON, FormatCSV} {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			cases := []struct {
				name    string
				r       io.Reader
				records int
				check   func(error)
			}{
				{"at once", iotest.ErrReader(errReadBoom), 0, func(err error) { require.ErrorIs(t, err, errReadBoom) }},
				{"mid-way", failingReader(partial[f], errReadBoom), 1, func(err error) { require.ErrorIs(t, err, errReadBoom) }},
				{"after the body", failingReader(valid[f], errReadBoom), -1, func(err error) { require.ErrorIs(t, err, errReadBoom) }},
				{"typed", failingReader(partial[f], &sizeLimitError{10}), 1, func(err error) {
					var le *sizeLimitError
					require.ErrorAs(t, err, &le)
					require.EqualValues(t, 10, le.limit)
				}},
				{"gzip checksum", corruptGzip(t, valid[f]), -1, func(err error) { require.ErrorIs(t, err, gzip.ErrChecksum) }},
				{"unexpected EOF", failingReader(partial[f], io.ErrUnexpectedEOF), 1, func(err error) {
					require.ErrorIs(t, err, io.ErrUnexpectedEOF)
				}},
			}
			for _, tt := range cases {
				recs, err := decodeAll(t, NewDecoder(f, tt.r, DecoderConfig{}), 100)
				var ce *ContainerError
				require.ErrorAs(t, err, &ce, tt.name)
				require.Equal(t, CodeReadError, ce.Code, tt.name)
				tt.check(err)
				if tt.records >= 0 {
					require.Len(t, recs, tt.records, tt.name)
				}
				for _, rec := range recs {
					require.Nil(t, rec.Err, tt.name)
				}
			}
		})
	}
}

// TestDecodeCSVReadErrorBehindParseError checks that a read error is not
// mistaken for a malformed row: encoding/csv reports a parse error on a line
// cut short by a read error, and drops the read error.
func TestDecodeCSVReadErrorBehindParseError(t *testing.T) {
	t.Parallel()
	recs, err := decodeAll(t, NewDecoder(FormatCSV, failingReader("a,b\n1,2\n3,x\"y", errReadBoom), DecoderConfig{}), 100)
	checkRecords(t, "failing", recs, []wantRecord{okRec(2, `{"a":"1","b":"2"}`)})
	checkEnd(t, "failing", err, wantEnd{CodeReadError, 3, "boom"})
	require.ErrorIs(t, err, errReadBoom)
}

func TestContainerError(t *testing.T) {
	t.Parallel()
	err := &ContainerError{Code: CodeReadError, Line: 3, Err: errReadBoom}
	require.Equal(t, "ingest: READ_ERROR at line 3: boom", err.Error())
	require.ErrorIs(t, err, errReadBoom)
	err = &ContainerError{Code: CodeMalformedContainer, Err: errReadBoom}
	require.Equal(t, "ingest: MALFORMED_CONTAINER: boom", err.Error())
}

// genReader produces head, then n records made by gen and separated by sep,
// then tail, holding one record at a time.
type genReader struct {
	head, sep, tail string
	n               int
	gen             func(dst []byte, i int) []byte
	i               int // next part: -1 is head, n is tail
	buf             []byte
	off             int
}

func newGenReader(f Format, n int) *genReader {
	g := &genReader{n: n, i: -1, gen: appendProductJSON}
	switch f {
	case FormatNDJSON:
		g.sep = "\n"
	case FormatJSON:
		g.head, g.sep, g.tail = "[\n", ",\n", "\n]\n"
	case FormatCSV:
		g.head, g.gen = productCSVHeader, appendProductCSV
	}
	return g
}

func (g *genReader) Read(p []byte) (int, error) {
	for g.off == len(g.buf) {
		if !g.next() {
			return 0, io.EOF
		}
	}
	n := copy(p, g.buf[g.off:])
	g.off += n
	return n, nil
}

// next makes the next part of the body.
func (g *genReader) next() bool {
	g.buf, g.off = g.buf[:0], 0
	switch {
	case g.i < 0:
		g.buf = append(g.buf, g.head...)
	case g.i < g.n:
		if g.i > 0 {
			g.buf = append(g.buf, g.sep...)
		}
		g.buf = g.gen(g.buf, g.i)
	case g.i == g.n:
		g.buf = append(g.buf, g.tail...)
	default:
		return false
	}
	g.i++
	return true
}

// repeatReader is an endless stream of one byte.
type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// heapInUse returns the bytes of heap in use after a garbage collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// totalAlloc returns the bytes allocated so far.
func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// TestDecodeMemoryIsFlat decodes large generated deliveries (about 200 MB of
// ndjson, 100 MB of json, 35 MB of csv; a tenth with -short) and checks that
// the heap does not grow with them. Not parallel: heap statistics are
// process-wide.
func TestDecodeMemoryIsFlat(t *testing.T) {
	const maxHeap = 32 << 20
	for _, tt := range []struct {
		format Format
		n      int
	}{{FormatNDJSON, 200_000}, {FormatJSON, 100_000}, {FormatCSV, 100_000}} {
		t.Run(string(tt.format), func(t *testing.T) {
			if testing.Short() {
				tt.n /= 10
			}
			before := heapInUse()
			dec := NewDecoder(tt.format, newGenReader(tt.format, tt.n), DecoderConfig{ColumnKind: productColumnKind})
			peak := uint64(0)
			for i := 0; ; i++ {
				rec, err := dec.Next()
				if err == io.EOF {
					require.Equal(t, tt.n, i)
					break
				}
				if err != nil || rec.Err != nil || rec.Index != i { // no require: it is slow per record
					t.Fatalf("record %d: index %d, %v, %v", i, rec.Index, err, rec.Err)
				}
				if i%20_000 == 0 {
					heap := heapInUse()
					require.Less(t, heap, uint64(maxHeap), "record %d", i)
					peak = max(peak, heap)
				}
			}
			t.Logf("%d records: heap in use %.1f MiB before, at most %.1f MiB while decoding",
				tt.n, float64(before)/(1<<20), float64(peak)/(1<<20))
		})
	}
}

// TestDecodeHugeRecordIsNotBuffered decodes a 10 MB record between two small
// ones and checks that decoding it allocates far less than its size. Not
// parallel: allocation statistics are process-wide.
func TestDecodeHugeRecordIsNotBuffered(t *testing.T) {
	const size = 10 << 20
	huge := func(prefix, suffix string) io.Reader {
		return io.MultiReader(strings.NewReader(prefix), io.LimitReader(repeatReader('x'), size), strings.NewReader(suffix))
	}
	for _, tt := range []struct {
		format   Format
		body     io.Reader
		want     []wantRecord
		end      wantEnd
		maxAlloc uint64
	}{
		{FormatNDJSON, huge("{\"a\":1}\n{\"a\":\"", "\"}\n{\"b\":2}\n"),
			[]wantRecord{okRec(1, `{"a":1}`), bigRec(2), okRec(3, `{"b":2}`)}, wantEnd{}, 4 << 20},
		{FormatJSON, huge("[{\"a\":1},\n{\"a\":\"", "\"},\n{\"b\":2}]"),
			[]wantRecord{okRec(1, `{"a":1}`), bigRec(2), okRec(3, `{"b":2}`)}, wantEnd{}, 4 << 20},
		// csv.Reader holds the row in its line buffer (grown by append, a
		// quarter at a time), its field buffer and a string before the limit
		// stops it: about 8 MiB allocated for MaxRecordBytes of 1 MiB, however
		// large the row.
		{FormatCSV, huge("a,b\n1,2\n3,", "\n4,5\n"),
			[]wantRecord{okRec(2, `{"a":"1","b":"2"}`)}, wantEnd{catalog.CodeRecordTooLarge, 3, "csv row larger"}, 12 << 20},
	} {
		t.Run(string(tt.format), func(t *testing.T) {
			before := totalAlloc()
			recs, err := decodeAll(t, NewDecoder(tt.format, tt.body, DecoderConfig{}), size)
			allocated := totalAlloc() - before
			checkRecords(t, "huge", recs, tt.want)
			checkEnd(t, "huge", err, tt.end)
			t.Logf("allocated %.1f MiB for a %d MiB record", float64(allocated)/(1<<20), size>>20)
			require.Less(t, allocated, tt.maxAlloc)
		})
	}
}

// A failing source (the object store unavailable) surfaces through every
// decoder and gzip with its cause, so that ingest retries the delivery
// instead of failing it.
func TestSourceErrorKeepsCause(t *testing.T) {
	t.Parallel()
	unavailable := fmt.Errorf("chunk 2 of 9 not received: %w", bus.ErrObjectUnavailable)
	bodies := map[Format]string{
		FormatNDJSON: `{"key":"a"}` + "\n" + `{"key":"b"}` + "\n",
		FormatJSON:   `[{"key":"a"},{"key":"b"},`,
		FormatCSV:    "key\na\nb\n",
	}
	for format, body := range bodies {
		for _, gz := range []bool{false, true} {
			src := []byte(body)
			if gz {
				var buf bytes.Buffer
				zw := gzip.NewWriter(&buf)
				_, _ = zw.Write(src)
				_ = zw.Flush() // not closed: the stream breaks off
				src = buf.Bytes()
			}
			r, _, err := openBody(io.MultiReader(bytes.NewReader(src), iotest.ErrReader(unavailable)), gz, 1<<20)
			require.NoError(t, err)
			dec := NewDecoder(format, r, DecoderConfig{})
			for {
				_, err = dec.Next()
				if err != nil {
					break
				}
			}
			require.ErrorIs(t, err, bus.ErrObjectUnavailable, "%s gzip=%v: %v", format, gz, err)
		}
	}
}
