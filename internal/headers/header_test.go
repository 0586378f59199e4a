package headers

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/callback"
	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	hosts, err := callback.ParseHosts("hooks.example.com, 10.0.0.5:8443")
	require.NoError(t, err)
	tests := []struct {
		name    string
		headers map[string]string
		body    int
		code    string // "" when valid
	}{
		{"defaults", nil, 10, ""},
		{"all set", map[string]string{bus.HeaderMsgID: "receipt-0001", bus.HeaderData: "producttype", bus.HeaderFormat: "CSV",
			bus.HeaderContractVersion: "1", bus.HeaderSkipErrors: "TRUE", bus.HeaderEncoding: "gzip", bus.HeaderForeignKey: "erp-7"}, 10, ""},
		{"foreign key at the limit", map[string]string{bus.HeaderForeignKey: strings.Repeat("k", MaxForeignKey)}, 10, ""},
		{"foreign key over the limit", map[string]string{bus.HeaderForeignKey: strings.Repeat("k", MaxForeignKey+1)}, 10, CodeInvalidHeader},
		{"foreign key not text", map[string]string{bus.HeaderForeignKey: "a\x00b"}, 10, CodeInvalidHeader},
		{"receipt", map[string]string{bus.HeaderMsgID: "short"}, 10, CodeInvalidReceipt},
		{"data", map[string]string{bus.HeaderData: "Order"}, 10, CodeUnknownDataType},
		{"format", map[string]string{bus.HeaderFormat: "xml"}, 10, CodeUnknownFormat},
		{"version", map[string]string{bus.HeaderContractVersion: "2.0"}, 10, CodeUnsupportedContract},
		{"encoding", map[string]string{bus.HeaderEncoding: "br"}, 10, CodeUnknownEncoding},
		{"skip errors", map[string]string{bus.HeaderSkipErrors: "maybe"}, 10, CodeInvalidHeader},
		{"object and a body", map[string]string{bus.HeaderObject: "m1.r.x"}, 10, CodeInvalidHeader},
		{"object of the merchant", map[string]string{bus.HeaderObject: "m1.receipt-1.0a"}, 0, ""},
		{"object of another merchant", map[string]string{bus.HeaderObject: "m2.receipt-1.0a"}, 0, CodeInvalidHeader},
		{"object of a merchant whose id extends", map[string]string{bus.HeaderObject: "m10.receipt-1.0a"}, 0, CodeInvalidHeader},
		{"object without a merchant", map[string]string{bus.HeaderObject: "receipt-1.0a"}, 0, CodeInvalidHeader},
		{"object named by the merchant alone", map[string]string{bus.HeaderObject: "m1."}, 0, CodeInvalidHeader},
		{"object name too long", map[string]string{bus.HeaderObject: "m1." + strings.Repeat("x", MaxObjectName)}, 0, CodeInvalidHeader},
		{"callback to an allowed host", map[string]string{bus.HeaderCallbackURL: "https://hooks.example.com/importd?t=1"}, 10, ""},
		{"callback to another host", map[string]string{bus.HeaderCallbackURL: "https://evil.example.net/x"}, 10, CodeInvalidHeader},
		{"callback to an allowed host on another port", map[string]string{bus.HeaderCallbackURL: "http://10.0.0.5:9000/x"}, 10, CodeInvalidHeader},
		{"callback not http", map[string]string{bus.HeaderCallbackURL: "file:///etc/passwd"}, 10, CodeInvalidHeader},
		{"callback with credentials", map[string]string{bus.HeaderCallbackURL: "https://u:p@hooks.example.com/"}, 10, CodeInvalidHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := nats.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			d, probs := Check("m1", h, tt.body, hosts)
			if tt.code == "" {
				require.Empty(t, probs)
				return
			}
			require.Len(t, probs, 1, "%+v", probs)
			require.Equal(t, tt.code, probs[0].Code)
			_ = d
		})
	}
	d, probs := Check("m1", nats.Header{bus.HeaderData: {"producttype"}, bus.HeaderFormat: {" Json "}, bus.HeaderSkipErrors: {"True"}}, 0, hosts)
	require.Empty(t, probs)
	require.Equal(t, catalog.ProductType, d.Data)
	require.Equal(t, "json", d.Format)
	require.Equal(t, "1.0", d.ContractVersion)
	require.True(t, d.SkipErrors)
	_, probs = Check("bad merchant!", nats.Header{}, 0, hosts)
	require.Equal(t, CodeInvalidMerchant, probs[0].Code)
}

// A callback URL is refused when callbacks are off, and kept as it will be
// called when its host is allowed.
func TestCheckCallbackURL(t *testing.T) {
	t.Parallel()
	h := nats.Header{}
	h.Set(bus.HeaderCallbackURL, "http://localhost:9000/done")
	_, probs := Check("m1", h, 0, callback.Hosts{})
	require.Len(t, probs, 1)
	require.Contains(t, probs[0].Description, "callbacks are off")
	hosts, err := callback.ParseHosts("localhost")
	require.NoError(t, err)
	d, probs := Check("m1", h, 0, hosts)
	require.Empty(t, probs)
	require.Equal(t, "http://localhost:9000/done", d.CallbackURL)
}

func TestCheckMetadata(t *testing.T) {
	t.Parallel()
	many := nats.Header{}
	for i := range MaxMetadataPairs + 1 {
		many.Set(HeaderMetadataPrefix+"k"+strings.Repeat("x", i), "v")
	}
	big := nats.Header{}
	for i := range MaxMetadataPairs {
		big.Set(HeaderMetadataPrefix+"k"+strings.Repeat("x", i), strings.Repeat("v", MaxMetadataValue))
	}
	atLimit := nats.Header{}
	atLimit.Set(HeaderMetadataPrefix+"k", strings.Repeat("v", MaxMetadataValue))
	tests := []struct {
		name string
		h    nats.Header
		want map[string]string // nil with a problem
		prob string            // in the description of the problem
	}{
		{"none", nats.Header{}, nil, ""},
		{"keys lower-cased, any case of the prefix", nats.Header{"Import-Metadata-Order-ID": {"A-1"}, "import-metadata-erp_batch": {"7"}, "Import-Metadata-Empty": {""}},
			map[string]string{"order-id": "A-1", "erp_batch": "7", "empty": ""}, ""},
		{"value at the limit", atLimit, map[string]string{"k": strings.Repeat("v", MaxMetadataValue)}, ""},
		{"key twice in two cases", nats.Header{"Import-Metadata-Order": {"1"}, "import-metadata-order": {"2"}}, nil, `"order" is given more than once`},
		{"key twice", nats.Header{"Import-Metadata-Order": {"1", "2"}}, nil, "more than once"},
		{"bad key", nats.Header{"Import-Metadata-a.b": {"1"}}, nil, "does not match"},
		{"empty key", nats.Header{"Import-Metadata-": {"1"}}, nil, "does not match"},
		{"key too long", nats.Header{"Import-Metadata-" + strings.Repeat("k", 65): {"1"}}, nil, "does not match"},
		{"value too long", nats.Header{"Import-Metadata-k": {strings.Repeat("v", MaxMetadataValue+1)}}, nil, "over the limit of 256"},
		{"value not text", nats.Header{"Import-Metadata-k": {"a\xffb"}}, nil, "not UTF-8"},
		{"too many pairs", many, nil, "17 metadata pairs, over the limit of 16"},
		{"too many bytes", big, nil, "over the limit of 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, probs := Check("m1", tt.h, 10, callback.Hosts{})
			if tt.prob == "" {
				require.Empty(t, probs)
				require.Equal(t, tt.want, d.Metadata)
				return
			}
			require.Len(t, probs, 1)
			require.Equal(t, CodeInvalidHeader, probs[0].Code)
			require.Contains(t, probs[0].Description, tt.prob)
			require.Nil(t, d.Metadata)
		})
	}
}

// FuzzCheckMetadata: whatever the metadata headers, Check does not panic,
// and the metadata it accepts keeps every rule.
func FuzzCheckMetadata(f *testing.F) {
	f.Add("Order-Id", "A-1", "batch", "7")
	f.Add("a.b", "x", "", "")
	f.Add("K", "\xff", "k", "y")
	f.Fuzz(func(t *testing.T, key, value, key2, value2 string) {
		h := nats.Header{HeaderMetadataPrefix + key: {value}, "import-metadata-" + key2: {value2}}
		d, probs := Check("m1", h, 10, callback.Hosts{})
		if len(probs) > 0 {
			require.Nil(t, d.Metadata)
			return
		}
		require.LessOrEqual(t, len(d.Metadata), MaxMetadataPairs)
		size := 0
		for k, v := range d.Metadata {
			require.True(t, ValidMetadataKey(k), k)
			require.Equal(t, strings.ToLower(k), k)
			require.LessOrEqual(t, len(v), MaxMetadataValue)
			require.True(t, isText(v))
			size += len(k) + len(v)
		}
		require.LessOrEqual(t, size, MaxMetadataBytes)
	})
}
