package catalog

// Kind is the JSON type a CSV cell is converted to.
type Kind int

// Kinds of CSV cells.
const (
	KindString Kind = iota // kept as a JSON string
	KindInt                // a JSON integer when the cell parses as one, else kept as a string
	KindNumber             // a JSON number when the cell parses as one, else kept as a string
	KindBool               // true/false when the cell is "true"/"false" (any case), else kept as a string
)
