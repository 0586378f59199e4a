package resolver

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/tracking"
)

// The resolver's reads and writes of parked references, in its own terms
// (catalog references, tracking operations); the statements are in
// internal/store.

// masterTypeID is the pseudo reference a product without a master variant
// waits on: {typeId: "master-variant", key: <product key>}.
const masterTypeID = "master-variant"

// parkedRef is one missing reference of a parked operation.
type parkedRef struct {
	Ref    catalog.Reference
	Op     tracking.OpRef
	OpType string
	OpKey  string
}

// parkedRefsInsert parks operations on their missing references.
func parkedRefsInsert(ctx context.Context, db database.DBTX, merchant string, refs []parkedRef) error {
	rows := make([]store.ParkedRef, len(refs))
	for i, r := range refs {
		rows[i] = store.ParkedRef{TypeID: r.Ref.TypeID, Key: r.Ref.Identity(), ReceiptID: r.Op.ReceiptID,
			DeliveryAt: r.Op.DeliveryAt, Seq: r.Op.Seq, OpType: r.OpType, OpKey: r.OpKey}
	}
	return store.ParkedRefsInsert(ctx, db, merchant, rows)
}

// parkedOfTypes returns those of refs whose type has operations parked on
// references of it for the merchant.
func parkedOfTypes(ctx context.Context, db database.DBTX, merchant string, refs []catalog.Reference) ([]catalog.Reference, error) {
	var types []string
	for _, r := range refs {
		if !slices.Contains(types, r.TypeID) {
			types = append(types, r.TypeID)
		}
	}
	parked, err := store.ParkedRefsTypesWaited(ctx, db, merchant, types)
	if err != nil {
		return nil, err
	}
	out := refs[:0:0]
	for _, r := range refs {
		if slices.Contains(parked, r.TypeID) {
			out = append(out, r)
		}
	}
	return out, nil
}

// parkedRefsTake deletes up to limit parked references to refs and returns
// the operations they belonged to with the references taken.
func parkedRefsTake(ctx context.Context, tx pgx.Tx, merchant string, refs []catalog.Reference, limit int) (map[tracking.OpRef][]catalog.Reference, int, error) {
	types, keys := make([]string, len(refs)), make([]string, len(refs))
	for i, r := range refs {
		types[i], keys[i] = r.TypeID, r.Identity()
	}
	taken, err := store.ParkedRefsTake(ctx, tx, merchant, types, keys, limit)
	if err != nil {
		return nil, 0, err
	}
	out := map[tracking.OpRef][]catalog.Reference{}
	for _, p := range taken {
		op := tracking.OpRef{MerchantID: merchant, ReceiptID: p.ReceiptID, DeliveryAt: p.DeliveryAt, Seq: p.Seq}
		out[op] = append(out[op], refOf(p.TypeID, p.Key))
	}
	return out, len(taken), nil
}

// parkedRefsOf returns the references the given operations still wait on.
func parkedRefsOf(ctx context.Context, db database.DBTX, ops []tracking.OpRef) (map[tracking.OpRef][]catalog.Reference, error) {
	keys := make([]store.OpKey, len(ops))
	for i, op := range ops {
		keys[i] = opKey(op)
	}
	rows, err := store.ParkedRefsOf(ctx, db, keys)
	if err != nil {
		return nil, err
	}
	out := map[tracking.OpRef][]catalog.Reference{}
	for _, p := range rows {
		op := tracking.OpRef{MerchantID: p.MerchantID, ReceiptID: p.ReceiptID, DeliveryAt: p.DeliveryAt, Seq: p.Seq}
		out[op] = append(out[op], refOf(p.TypeID, p.Key))
	}
	return out, nil
}

// parkedOwners returns the operations of type opType parked on ref.
func parkedOwners(ctx context.Context, db database.DBTX, merchant string, ref catalog.Reference, opType string) ([]tracking.OpRef, error) {
	keys, err := store.ParkedRefsOwners(ctx, db, merchant, ref.TypeID, ref.Identity(), opType)
	if err != nil {
		return nil, err
	}
	out := make([]tracking.OpRef, len(keys))
	for i, k := range keys {
		out[i] = tracking.OpRef{MerchantID: merchant, ReceiptID: k.ReceiptID, DeliveryAt: k.DeliveryAt, Seq: k.Seq}
	}
	return out, nil
}

// pairingLock serialises master-variant pairing for the products.
func pairingLock(ctx context.Context, db database.DBTX, merchant string, productKeys []string) error {
	return store.KnownKeysLockPairing(ctx, db, merchant, masterTypeID, productKeys)
}

// categoryCycle returns the cycle that parking category self on parent
// would close ("a", "b", "a"), or nil.
func categoryCycle(ctx context.Context, db database.DBTX, merchant, self, parent string) ([]string, error) {
	return store.ParkedRefsCategoryCycle(ctx, db, merchant, self, parent)
}

func opKey(op tracking.OpRef) store.OpKey {
	return store.OpKey{ReceiptID: op.ReceiptID, DeliveryAt: op.DeliveryAt, Seq: op.Seq}
}

// refOf makes a reference from a registry or parking row.
func refOf(typeID, key string) catalog.Reference {
	if typeID == masterTypeID {
		return catalog.Reference{TypeID: typeID, Key: key}
	}
	return catalog.Reference{TypeID: typeID, Key: key}.Normalize()
}
