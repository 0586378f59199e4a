package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AttributeType is the type of an attribute as its product type defines it.
// It decodes from the commercetools AttributeType object
// ({"name":"enum","values":[…]}) or from importd's shorthand, the name as a
// plain string ("enum"), which has no values.
type AttributeType struct {
	Name            string         `json:"name"`                      // boolean, text, ltext, enum, lenum, number, money, date, time, datetime, reference, set
	Values          []EnumValue    `json:"values,omitempty"`          // enum, lenum; nil for the shorthand form: keys are not checked
	ElementType     *AttributeType `json:"elementType,omitempty"`     // set
	ReferenceTypeID string         `json:"referenceTypeId,omitempty"` // reference

	// keys indexes the keys of Values when there are more than
	// enumIndexMin of them. UnmarshalJSON builds it; a type built otherwise
	// scans Values.
	keys map[string]struct{}
}

// EnumValue is one value of an enum or lenum attribute type.
type EnumValue struct {
	Key   string          `json:"key"`
	Label json.RawMessage `json:"label,omitempty"` // a string (enum) or a localized string (lenum)
}

// enumIndexMin is the number of enum values up to which a key is looked up
// by scanning Values rather than through a map.
const enumIndexMin = 8

// UnmarshalJSON decodes the shorthand (a string, the type's name) or the
// AttributeType object, and indexes the enum keys of the type and of its
// element types.
func (t *AttributeType) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var name string
		if err := json.Unmarshal(b, &name); err != nil {
			return fmt.Errorf("catalog: attribute type: %w", err)
		}
		*t = AttributeType{Name: name}
		return nil
	}
	type plain AttributeType // without the UnmarshalJSON method
	var v plain
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("catalog: attribute type: %w", err)
	}
	*t = AttributeType(v)
	t.keys = nil
	t.indexKeys()
	return nil
}

// indexKeys builds the key index of a type with many enum values. The
// element type of a set indexes itself when it is decoded.
func (t *AttributeType) indexKeys() {
	if len(t.Values) <= enumIndexMin {
		return
	}
	t.keys = make(map[string]struct{}, len(t.Values))
	for i := range t.Values {
		t.keys[t.Values[i].Key] = struct{}{}
	}
}

// hasKey reports whether key is the key of one of t's Values.
func (t *AttributeType) hasKey(key []byte) bool {
	if t.keys != nil {
		_, ok := t.keys[string(key)]
		return ok
	}
	for i := range t.Values {
		if t.Values[i].Key == string(key) {
			return true
		}
	}
	return false
}

// checkValue checks the attribute value node n of p (not null) against t.
// It returns "" when the value is valid, else the path below the value
// ("" for the value itself, "2" for a set's third element, "2.centAmount")
// and a description for a person. A valid value costs no allocation.
func (t *AttributeType) checkValue(p *parser, n int32) (path, problem string) {
	switch t.Name {
	case "boolean":
		if p.nodes[n].kind != jsonBool {
			return "", attrTypeError(p, "boolean (true or false)", n)
		}
		return "", ""
	case "text":
		return "", attrString(p, n)
	case "ltext":
		return attrLocalized(p, n)
	case "enum", "lenum":
		return t.checkEnum(p, n)
	case "number":
		return "", attrNumber(p, n)
	case "money":
		return attrMoney(p, n)
	case "date", "time", "datetime":
		return "", attrTime(p, t.Name, n)
	case "reference":
		return t.checkReference(p, n)
	case "set":
		return t.checkSet(p, n)
	}
	return "", fmt.Sprintf("the attribute has the unknown type %q", t.Name)
}

func (t *AttributeType) checkEnum(p *parser, n int32) (path, problem string) {
	k := n
	switch p.nodes[n].kind {
	case jsonString:
	case jsonObject:
		path = "key"
		var dup bool
		k, dup = attrMember(p, n, "key")
		switch {
		case dup:
			return path, "the field is given more than once"
		case k < 0 || p.nodes[k].kind == jsonNull:
			return path, "required field is missing"
		case p.nodes[k].kind != jsonString:
			return path, attrTypeError(p, "string", k)
		}
	default:
		return "", attrTypeError(p, t.Name+" key (a string, or an object with a key)", n)
	}
	if p.nodes[k].flags&flagNUL != 0 {
		return path, attrNUL
	}
	var buf [128]byte
	key := attrText(p, k, buf[:0])
	switch {
	case len(key) == 0:
		return path, "the key is empty"
	case t.Values == nil || t.hasKey(key):
		return "", ""
	}
	return path, t.badKey(key)
}

// badKey describes a key that is not one of t's: `"fuchsia" is not a key of
// enum attribute (one of "black", "white", … 12 keys)`.
func (t *AttributeType) badKey(key []byte) string {
	var sb strings.Builder
	sb.WriteString(quote(key))
	sb.WriteString(" is not a key of ")
	sb.WriteString(t.Name)
	sb.WriteString(" attribute (")
	if len(t.Values) == 0 {
		sb.WriteString("it has no keys)")
		return sb.String()
	}
	sb.WriteString("one of ")
	for i := range t.Values {
		if i > 0 {
			sb.WriteString(", ")
		}
		if i == 5 || sb.Len() > 160 {
			fmt.Fprintf(&sb, "… %d keys", len(t.Values))
			break
		}
		sb.WriteString(quote([]byte(t.Values[i].Key)))
	}
	sb.WriteByte(')')
	return sb.String()
}

func (t *AttributeType) checkReference(p *parser, n int32) (path, problem string) {
	if p.nodes[n].kind != jsonObject {
		return "", attrTypeError(p, "reference (an object with a typeId and a key or an id)", n)
	}
	var f [3]int32 // typeId, key, id
	if name := attrMembers(p, n, attrReferenceFields[:], f[:]); name != "" {
		return name, "the field is given more than once"
	}
	typeID, key, id := f[0], f[1], f[2]
	if typeID < 0 || p.nodes[typeID].kind == jsonNull {
		return "typeId", "required field is missing"
	}
	if problem := attrString(p, typeID); problem != "" {
		return "typeId", problem
	}
	if t.ReferenceTypeID != "" {
		var buf [64]byte
		if b := attrText(p, typeID, buf[:0]); string(b) != t.ReferenceTypeID {
			return "typeId", fmt.Sprintf("typeId %s, expected %q", quote(b), t.ReferenceTypeID)
		}
	}
	if (key < 0 || p.nodes[key].kind == jsonNull) && (id < 0 || p.nodes[id].kind == jsonNull) {
		return "", "a reference needs a key or an id"
	}
	for i, m := range f[1:] {
		if m < 0 || p.nodes[m].kind == jsonNull {
			continue
		}
		name := attrReferenceFields[1+i]
		if problem := attrString(p, m); problem != "" {
			return name, problem
		}
		if p.nodes[m].end-p.nodes[m].start == 2 {
			return name, name + " is empty"
		}
	}
	return "", ""
}

var attrReferenceFields = [...]string{"typeId", "key", "id"}

func (t *AttributeType) checkSet(p *parser, n int32) (path, problem string) {
	if p.nodes[n].kind != jsonArray {
		return "", attrTypeError(p, "set (an array)", n)
	}
	j := n + 1
	for i := range p.nodes[n].count {
		switch {
		case p.nodes[j].kind == jsonNull:
			problem = "a set element is null"
		case t.ElementType == nil:
			problem = attrAny(p, j)
		default:
			path, problem = t.ElementType.checkValue(p, j)
		}
		if problem != "" {
			at := strconv.Itoa(int(i))
			if path != "" {
				at += "." + path
			}
			return at, problem
		}
		j += p.nodes[j].size
	}
	return "", ""
}

const attrNUL = "contains a NUL character (\\u0000)"

// attrText is the text of string node n: a span of the input when it has no
// escapes, else appended to buf.
func attrText(p *parser, n int32, buf []byte) []byte {
	nd := &p.nodes[n]
	if nd.flags&flagEscaped == 0 {
		return p.data[nd.start+1 : nd.end-1]
	}
	return p.appendText(buf, n)
}

// attrSameText reports whether the string nodes a and b have the same text.
func attrSameText(p *parser, a, b int32) bool {
	na, nb := &p.nodes[a], &p.nodes[b]
	if (na.flags|nb.flags)&flagEscaped == 0 {
		return bytes.Equal(p.data[na.start:na.end], p.data[nb.start:nb.end])
	}
	var ba, bb [64]byte
	return bytes.Equal(attrText(p, a, ba[:0]), attrText(p, b, bb[:0]))
}

// attrMember is the value node of the member name of object n (-1 when
// absent), and whether the object gives it more than once.
func attrMember(p *parser, n int32, name string) (v int32, dup bool) {
	v = -1
	j := n + 1
	for range p.nodes[n].count {
		var buf [64]byte
		if string(attrText(p, j, buf[:0])) == name {
			if v >= 0 {
				return v, true
			}
			v = j + 1
		}
		j++
		j += p.nodes[j].size
	}
	return v, false
}

// attrMembers sets slots[i] to the value node of the member names[i] of
// object n, -1 when absent. It returns the name of a member given more than
// once, else "".
func attrMembers(p *parser, n int32, names []string, slots []int32) string {
	for i := range slots {
		slots[i] = -1
	}
	j := n + 1
	for range p.nodes[n].count {
		var buf [64]byte
		name := attrText(p, j, buf[:0])
		j++
		for i := range names {
			if string(name) == names[i] {
				if slots[i] >= 0 {
					return names[i]
				}
				slots[i] = j
				break
			}
		}
		j += p.nodes[j].size
	}
	return ""
}

// attrTypeError describes node n, which is not the want it should be.
func attrTypeError(p *parser, want string, n int32) string {
	nd := &p.nodes[n]
	switch nd.kind {
	case jsonString:
		var buf [64]byte
		return "expected " + want + ", got string " + quote(attrText(p, n, buf[:0]))
	case jsonNumber:
		return "expected " + want + ", got number " + number(p.raw(n))
	case jsonBool:
		return "expected " + want + ", got " + string(p.raw(n))
	}
	return "expected " + want + ", got " + nd.kind.String()
}

// attrString checks that node n is a string without NUL.
func attrString(p *parser, n int32) string {
	switch {
	case p.nodes[n].kind != jsonString:
		return attrTypeError(p, "string", n)
	case p.nodes[n].flags&flagNUL != 0:
		return attrNUL
	}
	return ""
}

// attrLocalized checks an ltext value: an object of language tag → string.
func attrLocalized(p *parser, n int32) (path, problem string) {
	if p.nodes[n].kind != jsonObject {
		return "", attrTypeError(p, "localized string (an object of language tag → string)", n)
	}
	count := p.nodes[n].count
	if count > maxLanguages {
		return "", fmt.Sprintf("%d languages, limit %d", count, maxLanguages)
	}
	j := n + 1
	for k := range count {
		name, val := j, j+1
		j = val + p.nodes[val].size
		var buf [64]byte
		tag := attrText(p, name, buf[:0])
		if !isLanguageTag(tag) {
			return string(cut(tag)), quote(tag) + " is not a language tag"
		}
		for i, m := int32(0), n+1; i < k; i++ {
			if attrSameText(p, m, name) {
				return string(tag), "the language is given more than once"
			}
			m += 1 + p.nodes[m+1].size
		}
		if problem := attrString(p, val); problem != "" {
			return string(tag), problem
		}
	}
	return "", ""
}

// attrNumber checks a number value: an integer literal within ±2^53 or a
// number in the range of a float64.
func attrNumber(p *parser, n int32) string {
	nd := &p.nodes[n]
	if nd.kind != jsonNumber {
		return attrTypeError(p, "number", n)
	}
	raw := p.raw(n)
	if nd.flags&flagInt != 0 {
		if _, ok := safeInt(raw); !ok {
			return number(raw) + " is beyond ±2^53"
		}
		return ""
	}
	if _, err := strconv.ParseFloat(string(raw), 64); err != nil {
		return number(raw) + " is out of range"
	}
	return ""
}

// attrInt checks an integer literal within ±2^53.
func attrInt(p *parser, n int32) (int64, string) {
	nd := &p.nodes[n]
	if nd.kind != jsonNumber {
		return 0, attrTypeError(p, "integer", n)
	}
	raw := p.raw(n)
	if nd.flags&flagInt == 0 {
		return 0, "expected integer, got number " + number(raw)
	}
	i, ok := safeInt(raw)
	if !ok {
		return 0, number(raw) + " is beyond ±2^53"
	}
	return i, ""
}

var attrMoneyFields = [...]string{"currencyCode", "centAmount", "fractionDigits", "type", "preciseAmount"}

// attrMoney checks a money value.
func attrMoney(p *parser, n int32) (path, problem string) {
	if p.nodes[n].kind != jsonObject {
		return "", attrTypeError(p, "money (an object with currencyCode and centAmount)", n)
	}
	var f [len(attrMoneyFields)]int32
	if name := attrMembers(p, n, attrMoneyFields[:], f[:]); name != "" {
		return name, "the field is given more than once"
	}
	for i := range f {
		if f[i] >= 0 && p.nodes[f[i]].kind == jsonNull {
			f[i] = -1 // null is absent
		}
	}
	cur, cent, digits, typ, precise := f[0], f[1], f[2], f[3], f[4]
	if cur < 0 {
		return "currencyCode", "required field is missing"
	}
	if problem := attrString(p, cur); problem != "" {
		return "currencyCode", problem
	}
	var buf [16]byte
	if code := attrText(p, cur, buf[:0]); !isCurrency(code) {
		return "currencyCode", quote(code) + " is not an ISO 4217 currency code"
	}
	if cent >= 0 {
		c, problem := attrInt(p, cent)
		if problem != "" {
			return "centAmount", problem
		}
		if c < 0 {
			return "centAmount", fmt.Sprintf("%d is below zero", c)
		}
	}
	if digits >= 0 {
		d, problem := attrInt(p, digits)
		if problem != "" {
			return "fractionDigits", problem
		}
		if d < 0 || d > maxFractionDigits {
			return "fractionDigits", fmt.Sprintf("%d is not between 0 and %d", d, maxFractionDigits)
		}
	}
	high := false
	if typ >= 0 {
		if problem := attrString(p, typ); problem != "" {
			return "type", problem
		}
		var buf [32]byte
		switch b := attrText(p, typ, buf[:0]); string(b) {
		case "centPrecision":
		case "highPrecision":
			high = true
		default:
			return "type", quote(b) + ` is not a money type ("centPrecision" or "highPrecision")`
		}
	}
	if precise >= 0 {
		a, problem := attrInt(p, precise)
		if problem != "" {
			return "preciseAmount", problem
		}
		if a < 0 {
			return "preciseAmount", fmt.Sprintf("%d is below zero", a)
		}
	}
	// As a record's Money (checkMoney): centAmount, or for a highPrecision
	// amount preciseAmount and fractionDigits.
	switch {
	case high && precise < 0:
		return "preciseAmount", "required field is missing: a highPrecision money needs a preciseAmount"
	case high && digits < 0:
		return "fractionDigits", "required field is missing: a highPrecision money needs fractionDigits"
	case !high && cent < 0:
		return "centAmount", "required field is missing"
	}
	return "", ""
}

// attrTime checks a date, time or datetime value.
func attrTime(p *parser, kind string, n int32) string {
	if problem := attrString(p, n); problem != "" {
		return problem
	}
	var buf [64]byte
	b := attrText(p, n, buf[:0])
	switch kind {
	case "date":
		if !isAttrDate(b) {
			return quote(b) + " is not a date (2006-01-02)"
		}
	case "time":
		if !isAttrTime(b) {
			return quote(b) + " is not a time (15:04:05 or 15:04:05.000)"
		}
	default:
		if !isAttrDateTime(b) {
			return quote(b) + " is not an RFC 3339 date-time (2006-01-02T15:04:05Z or with an offset and a fraction)"
		}
	}
	return ""
}

// attrAny checks an element of a set without element type: its strings
// and numbers, as Validate does.
func attrAny(p *parser, n int32) string {
	for i := n; i < n+p.nodes[n].size; i++ {
		switch m := &p.nodes[i]; m.kind {
		case jsonString:
			if m.flags&flagNUL != 0 {
				return attrNUL
			}
		case jsonNumber:
			if problem := attrNumber(p, i); problem != "" {
				return problem
			}
		}
	}
	return ""
}

// attrDigits2 is the two-digit number at b[0:2], or -1.
func attrDigits2(b []byte) int {
	if b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return -1
	}
	return int(b[0]-'0')*10 + int(b[1]-'0')
}

// isAttrDate reports whether b is a date as time.Parse("2006-01-02") reads it.
func isAttrDate(b []byte) bool {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return false
	}
	hi, lo := attrDigits2(b[0:2]), attrDigits2(b[2:4])
	month, day := attrDigits2(b[5:7]), attrDigits2(b[8:10])
	if hi < 0 || lo < 0 || month < 1 || month > 12 || day < 1 {
		return false
	}
	year := hi*100 + lo
	days := 31
	switch month {
	case 4, 6, 9, 11:
		days = 30
	case 2:
		days = 28
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			days = 29
		}
	}
	return day <= days
}

// attrClockLen is the length of the "15:04:05" or "15:04:05.999999999" at the
// start of b, or 0.
func attrClockLen(b []byte) int {
	if len(b) < 8 || b[2] != ':' || b[5] != ':' {
		return 0
	}
	h, m, s := attrDigits2(b[0:2]), attrDigits2(b[3:5]), attrDigits2(b[6:8])
	if h < 0 || h > 23 || m < 0 || m > 59 || s < 0 || s > 59 {
		return 0
	}
	i := 8
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i-9 < 1 || i-9 > 9 {
			return 0
		}
	}
	return i
}

// isAttrTime reports whether b is a time: "15:04:05", optionally with a
// fraction of 1 to 9 digits.
func isAttrTime(b []byte) bool {
	return len(b) >= 8 && attrClockLen(b) == len(b)
}

// isAttrDateTime reports whether b is an RFC 3339 date-time as
// time.Parse(time.RFC3339Nano) reads it (fraction of 1 to 9 digits).
func isAttrDateTime(b []byte) bool {
	if len(b) < 20 || !isAttrDate(b[:10]) || b[10] != 'T' {
		return false
	}
	i := 11 + attrClockLen(b[11:])
	if i == 11 {
		return false
	}
	zone := b[i:]
	if len(zone) == 1 {
		return zone[0] == 'Z'
	}
	if len(zone) != 6 || zone[0] != '+' && zone[0] != '-' || zone[3] != ':' {
		return false
	}
	h, m := attrDigits2(zone[1:3]), attrDigits2(zone[4:6])
	return h >= 0 && h <= 23 && m >= 0 && m <= 59
}

// comparable is a canonical form of the valid value n of p, for equality
// checks by attribute constraints (SameForAll, Unique): two values a user
// would call the same have the same form. It is the key of an enum or lenum
// value (given as a string or as {key, label}); for a set, the forms of its
// elements sorted, without duplicates, each quoted as a JSON string, in a
// JSON array; for a datetime, the instant in UTC in RFC 3339 without
// trailing zeros in the fraction; for a time, the time without them. Other
// values are their JSON with object members sorted by name, white space
// removed, strings re-encoded with minimal escapes and numbers written as
// the shortest literal of their float64 value (integers as integers).
func (t *AttributeType) comparable(p *parser, n int32) string {
	return string(t.appendComparable(nil, p, n))
}

func (t *AttributeType) appendComparable(dst []byte, p *parser, n int32) []byte {
	nd := &p.nodes[n]
	switch t.Name {
	case "enum", "lenum":
		k := n
		if nd.kind == jsonObject {
			k, _ = attrMember(p, n, "key")
		}
		if k >= 0 && p.nodes[k].kind == jsonString {
			return p.appendText(dst, k)
		}
	case "set":
		if nd.kind != jsonArray {
			break
		}
		forms := make([]string, 0, nd.count)
		j := n + 1
		for range nd.count {
			if t.ElementType != nil {
				forms = append(forms, t.ElementType.comparable(p, j))
			} else {
				forms = append(forms, string(attrCanonical(nil, p, j)))
			}
			j += p.nodes[j].size
		}
		slices.Sort(forms)
		forms = slices.Compact(forms)
		dst = append(dst, '[')
		for i, f := range forms {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, []byte(f))
		}
		return append(dst, ']')
	case "time":
		if nd.kind == jsonString {
			b := p.appendText(nil, n)
			if i := bytes.IndexByte(b, '.'); i >= 0 {
				b = bytes.TrimRight(b, "0")
				b = bytes.TrimSuffix(b, []byte("."))
			}
			return appendJSONString(dst, b)
		}
	case "datetime":
		if nd.kind == jsonString {
			if tm, err := time.Parse(time.RFC3339Nano, p.text(n)); err == nil {
				return appendJSONString(dst, tm.UTC().AppendFormat(nil, time.RFC3339Nano))
			}
		}
	}
	return attrCanonical(dst, p, n)
}

// attrCanonical appends the canonical JSON of node n: object members sorted
// by name, no white space, strings with minimal escapes, numbers as the
// shortest literal of their value.
func attrCanonical(dst []byte, p *parser, n int32) []byte {
	nd := &p.nodes[n]
	switch nd.kind {
	case jsonString:
		var buf [64]byte
		return appendJSONString(dst, attrText(p, n, buf[:0]))
	case jsonNumber:
		return attrAppendNumber(dst, p.raw(n), nd.flags&flagInt != 0)
	case jsonArray:
		dst = append(dst, '[')
		j := n + 1
		for i := range nd.count {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = attrCanonical(dst, p, j)
			j += p.nodes[j].size
		}
		return append(dst, ']')
	case jsonObject:
		type member struct {
			name  string
			value int32
		}
		members := make([]member, 0, nd.count)
		j := n + 1
		for range nd.count {
			members = append(members, member{p.text(j), j + 1})
			j++
			j += p.nodes[j].size
		}
		slices.SortStableFunc(members, func(a, b member) int { return strings.Compare(a.name, b.name) })
		dst = append(dst, '{')
		for i, m := range members {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, []byte(m.name))
			dst = append(dst, ':')
			dst = attrCanonical(dst, p, m.value)
		}
		return append(dst, '}')
	}
	return append(dst, p.raw(n)...) // null, true, false
}

// attrAppendNumber appends the number literal raw as the shortest
// literal of its float64 value, an integral value within ±2^53 as an
// integer; an integer literal within ±2^53 stays as written (but -0).
func attrAppendNumber(dst, raw []byte, isInt bool) []byte {
	if isInt {
		if i, ok := safeInt(raw); ok {
			return strconv.AppendInt(dst, i, 10)
		}
	}
	x, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return append(dst, raw...)
	}
	if x == math.Trunc(x) && math.Abs(x) <= maxSafeInteger {
		return strconv.AppendInt(dst, int64(x), 10)
	}
	return strconv.AppendFloat(dst, x, 'g', -1, 64)
}
