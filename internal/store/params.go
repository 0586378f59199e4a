package store

import "strconv"

// params collects a statement's parameters as its conditions are built:
// every value goes in as a parameter, never as text.
type params []any

// arg adds v and returns its placeholder.
func (p *params) arg(v any) string {
	*p = append(*p, v)
	return "$" + strconv.Itoa(len(*p))
}
