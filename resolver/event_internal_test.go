package resolver

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/importd/importd/catalog"
)

func TestParseEvent(t *testing.T) {
	t.Parallel()
	variant := func(sku string) catalog.Reference { return catalog.Reference{TypeID: "product-variant", SKU: sku} }
	for _, c := range []struct {
		subject, body string
		want          []catalog.Reference
		err           string
	}{
		{"catalog.events.m1.Category.created", `{"typeId":"category","key":"shoes"}`, []catalog.Reference{{TypeID: "category", Key: "shoes"}}, ""},
		{"catalog.events.m1.ProductVariant.updated", `{"typeId":"product-variant","sku":"s-1"}`, []catalog.Reference{variant("s-1")}, ""},
		{"catalog.events.m1.ProductVariant.created", `{"key":"s-1"}`, []catalog.Reference{variant("s-1")}, ""},
		{"catalog.events.m1.Product.created", `{"typeId":"product","key":"shirt","skus":["s-1","s-2"]}`,
			[]catalog.Reference{{TypeID: "product", Key: "shirt"}, variant("s-1"), variant("s-2")}, ""},
		{"catalog.events.m1.Category.created", `{"key":"shoes","skus":["s-1"]}`, nil, "only a Product event"},
		{"catalog.events.m1.Product.created", `{"key":"shirt","skus":["s 1"]}`, nil, "not a valid sku"},
		{"catalog.events.m1.Product.created", `{"key":"shirt","skus":["` + strings.Repeat("s1\",\"", 1000) + `s1"]}`, nil, "more than 1000"},
		{"catalog.events.m1.Product.created", `{"typeId":"category","key":"shirt"}`, nil, "does not match"},
		{"catalog.events.m1.Product.deleted", `{"key":"shirt"}`, nil, "subject is not"},
		{"catalog.events.m 1.Product.created", `{"key":"shirt"}`, nil, "invalid merchant"},
		{"catalog.events.m1.Shoe.created", `{"key":"shirt"}`, nil, "unknown resource type"},
		{"catalog.events.m1.Product.created", `{"key":"x"}`, nil, "not a valid key"},
		{"catalog.events.m1.Product.created", `not json`, nil, "body"},
	} {
		refs, merchant, err := parseEvent(c.subject, []byte(c.body))
		if c.err != "" {
			require.ErrorContains(t, err, c.err, c.body)
			continue
		}
		require.NoError(t, err, c.body)
		require.Equal(t, "m1", merchant)
		require.Equal(t, c.want, refs, c.body)
	}
}
