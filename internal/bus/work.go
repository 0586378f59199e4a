package bus

import (
	"encoding/json"
	"time"
)

// WorkBatch is the body of a message on IMPORT_WORK: operations of one
// delivery on their way to the resolver (import.work.resolve.<merchant>) or the
// importer (import.work.apply.<merchant>). One message carries many operations
// so that every stage fetches, writes and acknowledges in batches; each
// operation is still tracked, and made idempotent, on its own.
type WorkBatch struct {
	ReceiptID    string    `json:"receiptId"`
	MerchantID   string    `json:"merchantId"`
	DeliveryAt   time.Time `json:"deliveryAt"`
	ResourceType string    `json:"resourceType"`
	Ops          []WorkOp  `json:"ops"`
}

// WorkOp is one operation in a WorkBatch.
type WorkOp struct {
	ID     string          `json:"id"`
	Seq    int             `json:"seq"`
	Key    string          `json:"key"`
	Record json.RawMessage `json:"record"`
}
