package catalog

import (
	"strings"
	"time"
)

// priceScope is the scope of the price object n of p: what commercetools
// selects a price by (currency, country, customer group, channel, validity).
// Two prices of one variant with the same scope cannot be told apart, so the
// contract refuses them. Times compare as instants.
func priceScope(p *parser, n int32) string {
	var b strings.Builder
	b.WriteString(p.memberText(p.member(n, "value"), "currencyCode"))
	b.WriteByte(0)
	b.WriteString(p.memberText(n, "country"))
	b.WriteByte(0)
	b.WriteString(p.memberText(p.member(n, "customerGroup"), "key"))
	b.WriteByte(0)
	b.WriteString(p.memberText(p.member(n, "channel"), "key"))
	for _, f := range []string{"validFrom", "validUntil"} {
		b.WriteByte(0)
		s := p.memberText(n, f)
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			s = t.UTC().Format(time.RFC3339Nano)
		}
		b.WriteString(s)
	}
	return b.String()
}

// describeScope says a scope of priceScope for a person.
func describeScope(scope string) string {
	parts := strings.Split(scope, "\x00")
	if len(parts) != 6 {
		return scope
	}
	out := []string{parts[0]}
	for i, name := range []string{"", "country", "customer group", "channel", "valid from", "valid until"} {
		if i > 0 && parts[i] != "" {
			out = append(out, name+" "+parts[i])
		}
	}
	if len(out) == 1 {
		out = append(out, "no country, customer group, channel or validity")
	}
	return strings.Join(out, ", ")
}
