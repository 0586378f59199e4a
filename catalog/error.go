package catalog

// Error types (docs/errors.md).
const (
	DataError    = "DATA_ERROR"
	SystemError  = "SYSTEM_ERROR"
	TimeoutError = "TIMEOUT_ERROR"
)

// Stable error codes. They are part of the external contract: never rename or
// reuse one; add new ones at the end of their group. docs/errors.md documents each.
const (
	// Record-level codes, found by ingest.
	CodeMalformedRecord   = "MALFORMED_RECORD"   // the line, row or element is not a readable JSON object
	CodeRecordTooLarge    = "RECORD_TOO_LARGE"   // the record is over the record size limit
	CodeRequiredField     = "REQUIRED_FIELD"     // a required field is missing, null or empty
	CodeInvalidType       = "INVALID_TYPE"       // a field has the wrong JSON type
	CodeInvalidKey        = "INVALID_KEY"        // a key or sku does not match ^[A-Za-z0-9_-]{2,256}$
	CodeInvalidValue      = "INVALID_VALUE"      // a value is out of range or badly formatted (language tag, slug, country, date, number)
	CodeInvalidCurrency   = "INVALID_CURRENCY"   // not an ISO 4217 currency code
	CodeNegativeAmount    = "NEGATIVE_AMOUNT"    // an amount or quantity below zero
	CodeValueTooLong      = "VALUE_TOO_LONG"     // a string over its length limit
	CodeTooManyItems      = "TOO_MANY_ITEMS"     // a list or localized string over its item limit
	CodeInvalidReference  = "INVALID_REFERENCE"  // a reference of the wrong typeId, or without key/sku
	CodeDuplicateIdentity = "DUPLICATE_IDENTITY" // the same key or sku appears earlier in the same delivery
	CodeUnsupportedField  = "UNSUPPORTED_FIELD"  // a field of the commercetools draft importd cannot honour (Product.state, a nested attribute type, …)
	CodeDuplicatePrice    = "DUPLICATE_PRICE"    // two prices of a variant have the same scope (currency, country, customer group, channel, validity)
)

// Error is one problem with one record: {type, code, field, description}.
// Field is a dotted path in the record ("masterVariant.prices.0.value.centAmount"),
// empty when the problem concerns the record as a whole.
type Error struct {
	Type        string `json:"type"`
	Code        string `json:"code"`
	Field       string `json:"field,omitempty"`
	Description string `json:"description"`
}

func (e Error) Error() string {
	if e.Field == "" {
		return e.Code + ": " + e.Description
	}
	return e.Code + " " + e.Field + ": " + e.Description
}

// DataErr builds a DATA_ERROR.
func DataErr(code, field, description string) Error {
	return Error{Type: DataError, Code: code, Field: field, Description: description}
}

// Reference points at another resource: {"typeId": "category", "key": "shoes"};
// variants and inventory entries are referenced by sku.
type Reference struct {
	TypeID string `json:"typeId"`
	Key    string `json:"key,omitempty"`
	SKU    string `json:"sku,omitempty"`
}

// Identity is the key or, for sku-identified resources, the sku.
func (r Reference) Identity() string {
	if r.Key != "" {
		return r.Key
	}
	return r.SKU
}
