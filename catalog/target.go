package catalog

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Target writes resolved records into a catalog. Store is the PostgreSQL
// catalog; Faulty wraps a Target to inject failures in tests.
//
// Implementations must be safe for concurrent use. Apply is idempotent in
// effect: applying the same records again reports them Unchanged and writes
// nothing, so a batch redelivered after a crash never doubles a write.
type Target interface {
	// Apply writes a batch of records of one merchant in one transaction
	// (or equivalent) and reports, per record and in the order of recs, the
	// result. Records are applied in order: a record sees the effect of the
	// records before it in the batch, whatever their type.
	//
	// A transient failure of the whole batch (connection loss, serialization
	// failure, deadlock, timeout, a concurrent writer of the same resources)
	// is returned as an error wrapping ErrTransient: nothing was written and
	// the caller retries. Any other error is unexpected (a bug, a missing
	// schema); nothing was written either.
	Apply(ctx context.Context, merchant string, recs []ApplyRecord) ([]ApplyResult, error)
}

// ApplyRecord is one record to write.
type ApplyRecord struct {
	OpID string       // the import operation, for logs and fault injection
	Type ResourceType // the record's resource type
	Key  string       // the record's identity: its key, or its sku for ProductVariant and InventoryEntry
	Data []byte       // the record, as JSON that passed Validate
	// Order places the record among the writes of its resource. A target
	// that keeps it applies a record only when it comes after the record
	// that last wrote the resource, and reports the others Superseded.
	Order Order
}

// Order is the order in which records of one resource are applied: by the
// acceptance of their deliveries, then by their position in the delivery.
// It is the order upstream published them in (JetStream's acceptance
// time), whatever order they reach the catalog in: released after
// parking, retried or redelivered. The zero Order is unordered: such a
// record is applied whatever wrote the resource before, and any record
// comes after it.
type Order struct {
	At      time.Time // the delivery's acceptance (its accepted_at)
	Seq     int       // the record's position in the delivery
	Receipt string    // the delivery, named to the records it supersedes
}

// IsZero reports whether o is unordered.
func (o Order) IsZero() bool { return o.At.IsZero() }

// Before reports whether o comes strictly before p; an unordered Order
// comes before nothing and nothing comes before it.
func (o Order) Before(p Order) bool {
	if o.IsZero() || p.IsZero() {
		return false
	}
	if !o.At.Equal(p.At) {
		return o.At.Before(p.At)
	}
	return o.Seq < p.Seq
}

// ApplyResult is what became of one record.
type ApplyResult struct {
	Outcome Outcome
	// Errors say why a record was Refused (DATA_ERRORs with a precise code,
	// the field and a description) or Failed (a SYSTEM_ERROR).
	Errors []Error
	// Warnings say what of the record was discarded although it was written
	// (UNDEFINED_ATTRIBUTE per dropped attribute): the operation is then
	// partiallyImported.
	Warnings []Error
	// Created and Updated are the resources the record created and updated,
	// for resource events: a Product creates itself and its embedded
	// variants (product-variant references by sku); making a variant the
	// master updates the variant it replaces.
	Created []Reference
	Updated []Reference
	// Resources, when set, are every resource the record stands for,
	// written or not: itself and, for a Product, its variants. The importer
	// marks them in the registry; a target that leaves it nil makes the
	// importer read them from the record.
	Resources []Reference
}

// Outcome is the result of applying one record.
type Outcome uint8

// Outcomes of ApplyResult. The zero Outcome is not one of them.
const (
	Created   Outcome = iota + 1 // the resource did not exist and was written
	Updated                      // the resource existed and was changed
	Unchanged                    // the resource existed with identical data: nothing was written
	Refused                      // the target refuses the record (Errors say why); retrying does not help
	Failed                       // the record could not be written this time (a SYSTEM_ERROR); the caller retries it
	// Superseded: the catalog holds the resource as a record after this
	// one (Order) wrote it; nothing was written. Warnings hold a
	// SUPERSEDED warning naming that record's delivery.
	Superseded
)

var outcomeNames = [...]string{"", "created", "updated", "unchanged", "refused", "failed", "superseded"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) && o != 0 {
		return outcomeNames[o]
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Written reports whether the record is in the catalog after Apply:
// created, updated or unchanged.
func (o Outcome) Written() bool { return o == Created || o == Updated || o == Unchanged }

// ErrTransient marks a failure of a whole batch that is worth retrying.
var ErrTransient = errors.New("catalog: transient failure")

// Error codes the target reports. Like those of error.go they are part of
// the external contract: never rename or reuse one.
const (
	// CodeUnknownReference: a resource the record needs is not in the
	// catalog (a Product's productType, a ProductVariant's product, a
	// Price's sku). The resolver should have made sure it exists, so this
	// means the resource disappeared or the catalog is written by other
	// means too.
	CodeUnknownReference = "UNKNOWN_REFERENCE"
	// CodeDuplicateSKU: the sku of a variant belongs to another product of
	// the merchant (imported earlier, or earlier in the same batch).
	CodeDuplicateSKU = "DUPLICATE_SKU"
	// CodeRequiredAttribute: a variant lacks an attribute its product type
	// requires (absent, or without a value).
	CodeRequiredAttribute = "REQUIRED_ATTRIBUTE"
	// CodeUndefinedAttribute (a warning): a variant has an attribute its
	// product type does not define; the attribute was dropped and the rest
	// of the record written.
	CodeUndefinedAttribute = "UNDEFINED_ATTRIBUTE"
	// CodeTargetFailure (a SYSTEM_ERROR): the target could not write the
	// record this time; the importer retries it.
	CodeTargetFailure = "TARGET_FAILURE"
	// CodeSuperseded (a warning): the catalog holds data of the resource
	// (or of one of a product's variants) from a record that comes after
	// this one (a later delivery, or later in the same delivery); this
	// record's data for it was not applied.
	CodeSuperseded = "SUPERSEDED"
	// CodeUnknownField (a warning): the record has a field the contract
	// does not know (neither commercetools' draft nor importd's shorthand);
	// it was not stored and the rest of the record was written.
	CodeUnknownField = "UNKNOWN_FIELD"
	// CodeInvalidAttributeValue: an attribute's value does not match the
	// type its product type defines (an enum key it does not list, a date
	// that does not parse, …).
	CodeInvalidAttributeValue = "INVALID_ATTRIBUTE_VALUE"
	// CodeAttributeConstraint: the attribute values of a product's
	// variants break the attribute's constraint (SameForAll, Unique,
	// CombinationUnique).
	CodeAttributeConstraint = "ATTRIBUTE_CONSTRAINT"
)
