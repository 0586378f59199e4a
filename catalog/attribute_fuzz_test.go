package catalog

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzAttributeValue checks attribute values of every type against the
// checker: it never panics, answers the same twice, and a value it accepts
// has a comparable form that does not depend on how the value is spelled
// (re-encoded by encoding/json, which drops white space and reorders nothing).
func FuzzAttributeValue(f *testing.F) {
	types := []string{
		`"boolean"`, `"text"`, `"ltext"`, `"number"`, `"money"`, `"date"`, `"time"`, `"datetime"`, `"enum"`,
		`{"name":"enum","values":[{"key":"red","label":"Red"},{"key":"blue","label":"Blue"}]}`,
		`{"name":"lenum","values":[{"key":"s","label":{"en":"S"}}]}`,
		`{"name":"reference","referenceTypeId":"product"}`,
		`{"name":"set","elementType":{"name":"datetime"}}`,
		`{"name":"set","elementType":{"name":"enum","values":[{"key":"a","label":"A"}]}}`,
	}
	seeds := []string{`true`, `"x"`, `{"en":"x"}`, `12.5`, `{"currencyCode":"EUR","centAmount":1}`, `"2026-01-02"`,
		`"15:04:05.250"`, `"2026-01-02T03:04:05+01:00"`, `{"key":"red"}`, `{"typeId":"product","key":"p1"}`, `["2026-01-02T03:04:05Z"]`, `["a","a"]`, `null`}
	for i := range types {
		for _, v := range seeds {
			f.Add(uint8(i), v)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, value string) {
		var typ AttributeType
		require.NoError(t, json.Unmarshal([]byte(types[int(which)%len(types)]), &typ))
		var p parser
		if p.parse([]byte(value)) != "" || p.nodes[0].kind == jsonNull {
			return
		}
		path, problem := typ.checkValue(&p, 0)
		again, againProblem := typ.checkValue(&p, 0)
		require.Equal(t, path, again)
		require.Equal(t, problem, againProblem)
		if problem != "" {
			return
		}
		c := typ.comparable(&p, 0)
		var v any
		require.NoError(t, json.Unmarshal([]byte(value), &v))
		respelled, err := json.Marshal(v)
		require.NoError(t, err)
		var q parser
		require.Empty(t, q.parse(respelled))
		_, problem = typ.checkValue(&q, 0)
		require.Empty(t, problem, "%s re-encoded as %s", value, respelled)
		require.Equal(t, c, typ.comparable(&q, 0), "%s re-encoded as %s", value, respelled)
	})
}
