package catalog

import "strings"

// ColumnKind is the JSON type a CSV cell of the given column is converted to
// for records of type t. The column is a dotted path
// ("masterVariant.prices.0.value.centAmount"); numeric segments are array
// indices and match any index. Columns the contract does not know, and every
// string, localized or free-form (attribute value) field, are KindString.
// The kinds come from the schema Validate checks records against.
func ColumnKind(t ResourceType, column string) Kind {
	s := schemaOf(t)
	if s == nil {
		return KindString
	}
	for seg := range strings.SplitSeq(column, ".") {
		switch s.kind {
		case valueArray:
			if !isIndex(seg) {
				return KindString
			}
			s = s.elem.schema
		case valueObject:
			i := s.index(seg)
			if i < 0 {
				return KindString
			}
			s = s.fields[i].schema
		default:
			return KindString
		}
	}
	switch s.kind {
	case valueInt:
		return KindInt
	case valueNumber:
		return KindNumber
	case valueBool:
		return KindBool
	}
	return KindString
}

// isIndex reports whether seg is an array index: decimal digits.
func isIndex(seg string) bool {
	if seg == "" || len(seg) > 9 {
		return false
	}
	for i := 0; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return false
		}
	}
	return true
}
