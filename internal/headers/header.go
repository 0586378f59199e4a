// Package headers holds the rules on the headers of a delivery,
// shared by ingest and POST /v1/imports so that both refuse exactly the
// same deliveries.
package headers

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/importd/importd/callback"
	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/bus"
)

// Codes of the header problems Check finds, the ingestion error codes
// of docs/errors.md.
const (
	CodeUnknownFormat       = "UNKNOWN_FORMAT"
	CodeUnknownDataType     = "UNKNOWN_DATA_TYPE"
	CodeUnsupportedContract = "UNSUPPORTED_CONTRACT_VERSION"
	CodeUnknownEncoding     = "UNKNOWN_ENCODING"
	CodeInvalidHeader       = "INVALID_HEADER"
	CodeInvalidReceipt      = "INVALID_RECEIPT_ID"
	CodeInvalidMerchant     = "INVALID_MERCHANT_ID"
)

// HeaderMetadataPrefix starts the name of each metadata header.
const HeaderMetadataPrefix = bus.HeaderMetadataPrefix

// Limits of header values.
const (
	MaxForeignKey = 256  // bytes of Import-Foreign-Key
	MaxObjectName = 1024 // bytes of Import-Object

	MaxMetadataPairs = 16      // Import-Metadata-<Key> headers of a delivery
	MaxMetadataValue = 256     // bytes of one metadata value
	MaxMetadataBytes = 4 << 10 // bytes of all metadata keys and values
)

var metadataKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidMetadataKey reports whether k may name a metadata pair
// (^[A-Za-z0-9_-]{1,64}$, compared lower-cased).
func ValidMetadataKey(k string) bool { return metadataKeyPattern.MatchString(k) }

// Problem is one unusable header of a delivery.
type Problem struct {
	Code        string
	Description string
}

func (p Problem) Error() string { return p.Description }

// Delivery is what the headers of a delivery say, in canonical form.
// Every rule on the headers is here, so that a delivery submitted over HTTP
// is refused for exactly what would make ingest fail it.
type Delivery struct {
	Receipt         string // "" when absent or invalid
	Data            catalog.ResourceType
	Format          string // ndjson, json or csv
	ContractVersion string // 1.0
	ForeignKey      *string
	SkipErrors      bool
	Gzip            bool
	Object          string
	CallbackURL     string // "" for none
	// Metadata are the Import-Metadata-<Key> pairs, keys lower-cased; nil
	// for none.
	Metadata map[string]string
}

// Check checks the headers of a delivery of merchant whose message
// body is bodyLen bytes long, and returns what they say with every problem
// found. Values of a problem header are left at their defaults (an
// over-long foreign key is cut to MaxForeignKey). A callback URL must name
// one of callbacks' hosts: a delivery whose end would be told to nobody is
// refused rather than accepted silently.
func Check(merchant string, h nats.Header, bodyLen int, callbacks callback.Hosts) (Delivery, []Problem) {
	var d Delivery
	var probs []Problem
	fail := func(code, format string, args ...any) {
		probs = append(probs, Problem{Code: code, Description: fmt.Sprintf(format, args...)})
	}
	if !bus.ValidMerchant(merchant) {
		fail(CodeInvalidMerchant, "merchant id %q does not match ^[A-Za-z0-9_-]{1,64}$", Clip(merchant))
	}
	// Nats-Msg-Id is the receipt, or DeliveryID(merchant, receipt).
	if r := bus.ReceiptOf(h.Get(bus.HeaderMsgID), merchant); r != "" {
		if bus.ValidReceipt(r) {
			d.Receipt = r
		} else {
			fail(CodeInvalidReceipt, "Nats-Msg-Id %q is not a valid receipt id (^[A-Za-z0-9_-]{8,64}$)", Clip(r))
		}
	}
	if v := h.Get(bus.HeaderData); v == "" {
		d.Data = catalog.Product
	} else {
		if t, ok := catalog.ParseResourceType(v); ok {
			d.Data = t
		} else {
			names := make([]string, len(catalog.ResourceTypes))
			for i, t := range catalog.ResourceTypes {
				names[i] = string(t)
			}
			fail(CodeUnknownDataType, "Import-Data %q is not one of %s", Clip(v), strings.Join(names, ", "))
		}
	}
	switch f := strings.ToLower(strings.TrimSpace(h.Get(bus.HeaderFormat))); f {
	case "":
		d.Format = "ndjson"
	case "ndjson", "json", "csv":
		d.Format = f
	default:
		fail(CodeUnknownFormat, "Import-Format %q is not one of ndjson, json, csv", Clip(h.Get(bus.HeaderFormat)))
	}
	switch v := h.Get(bus.HeaderContractVersion); v {
	case "", "1", "1.0":
		d.ContractVersion = "1.0"
	default:
		fail(CodeUnsupportedContract, "Import-Contract-Version %q is not supported (supported: 1.0)", Clip(v))
	}
	switch enc := strings.ToLower(h.Get(bus.HeaderEncoding)); enc {
	case "", "identity":
	case "gzip":
		d.Gzip = true
	default:
		fail(CodeUnknownEncoding, "Content-Encoding %q is not supported (supported: gzip)", Clip(enc))
	}
	switch v := strings.ToLower(h.Get(bus.HeaderSkipErrors)); v {
	case "", "false":
	case "true":
		d.SkipErrors = true
	default:
		fail(CodeInvalidHeader, "Import-Skip-Errors %q must be true or false", Clip(v))
	}
	if fk := h.Get(bus.HeaderForeignKey); fk != "" {
		if len(fk) > MaxForeignKey {
			fail(CodeInvalidHeader, "Import-Foreign-Key is %d bytes long, over the limit of %d", len(fk), MaxForeignKey)
			fk = fk[:MaxForeignKey]
		}
		if !isText(fk) {
			fail(CodeInvalidHeader, "Import-Foreign-Key %q is not UTF-8 text (invalid bytes or NUL)", Clip(fk))
		}
		fk = Storable(fk)
		d.ForeignKey = &fk
	}
	switch obj := h.Get(bus.HeaderObject); {
	case obj == "":
	case len(obj) > MaxObjectName:
		fail(CodeInvalidHeader, "Import-Object name is over %d bytes", MaxObjectName)
	case !isText(obj):
		fail(CodeInvalidHeader, "Import-Object name %q is not UTF-8 text (invalid bytes or NUL)", Clip(obj))
	case !bus.ObjectOfMerchant(obj, merchant):
		fail(CodeInvalidHeader, "Import-Object %q is not an object of merchant %s: its name must start with %q", Clip(obj), Clip(merchant), Clip(merchant)+".")
	default:
		d.Object = obj
	}
	if d.Object != "" && bodyLen > 0 {
		fail(CodeInvalidHeader, "the message body must be empty when Import-Object names the body")
	}
	if cb := h.Get(bus.HeaderCallbackURL); cb != "" {
		switch u, err := callbacks.Check(cb); {
		case !callbacks.Enabled():
			fail(CodeInvalidHeader, "Import-Callback-Url is set but callbacks are off (IMPORTD_CALLBACK_HOSTS is empty)")
		case err != nil:
			fail(CodeInvalidHeader, "Import-Callback-Url %q: %s", Clip(cb), strings.TrimPrefix(err.Error(), "callback: "))
		default:
			d.CallbackURL = u.String()
		}
	}
	md, mprobs := checkMetadata(h)
	if len(mprobs) == 0 {
		d.Metadata = md
	}
	for _, p := range mprobs {
		fail(CodeInvalidHeader, "%s", p)
	}
	return d, probs
}

// checkMetadata reads the Import-Metadata-<Key> headers, whatever the case
// of their names (HTTP canonicalises them, NATS keeps them as sent): keys
// lower-cased, so that Import-Metadata-Order-Id and import-metadata-order-id
// are one key, sent twice.
func checkMetadata(h nats.Header) (map[string]string, []string) {
	var md map[string]string
	var probs []string
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	sort.Strings(names) // problems in a stable order
	size := 0
	for _, name := range names {
		if len(name) < len(HeaderMetadataPrefix) || !strings.EqualFold(name[:len(HeaderMetadataPrefix)], HeaderMetadataPrefix) {
			continue
		}
		raw := name[len(HeaderMetadataPrefix):]
		key := strings.ToLower(raw)
		vals := h[name]
		switch {
		case !ValidMetadataKey(raw):
			probs = append(probs, fmt.Sprintf("metadata key %q (header %s) does not match ^[A-Za-z0-9_-]{1,64}$", Clip(raw), Clip(name)))
			continue
		case len(vals) != 1 || hasKey(md, key):
			probs = append(probs, fmt.Sprintf("metadata key %q is given more than once", key))
			continue
		}
		v := vals[0]
		switch {
		case len(v) > MaxMetadataValue:
			probs = append(probs, fmt.Sprintf("metadata %q is %d bytes long, over the limit of %d", key, len(v), MaxMetadataValue))
			continue
		case !isText(v):
			probs = append(probs, fmt.Sprintf("metadata %q is not UTF-8 text (invalid bytes or NUL)", key))
			continue
		}
		if md == nil {
			md = map[string]string{}
		}
		md[key] = v
		size += len(key) + len(v)
	}
	if len(md) > MaxMetadataPairs {
		probs = append(probs, fmt.Sprintf("%d metadata pairs, over the limit of %d", len(md), MaxMetadataPairs))
	}
	if size > MaxMetadataBytes {
		probs = append(probs, fmt.Sprintf("metadata keys and values are %d bytes in all, over the limit of %d", size, MaxMetadataBytes))
	}
	return md, probs
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// Clip shortens a header value to 64 bytes, Storable, for messages and
// columns of that size.
func Clip(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return Storable(s)
}

// isText reports whether a header value is valid UTF-8 without NUL bytes.
func isText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// Storable makes a header value something PostgreSQL stores as text: invalid
// UTF-8 (a hostile header, or one clipped inside a character) replaced and
// NUL bytes dropped. Otherwise storing the delivery fails on every attempt,
// and the delivery is retried forever instead of failing with its reasons.
func Storable(s string) string {
	if isText(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}
