package resolver

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/catalog"
	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/internal/store"
	"github.com/importd/importd/tracking"
)

// The resolver's SQL: parked references, master-variant pairing, cycles and
// the outbox of released operations.

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
func parkedRefsInsert(ctx context.Context, tx pgx.Tx, merchant string, refs []parkedRef) error {
	if len(refs) == 0 {
		return nil
	}
	n := len(refs)
	types, keys, receipts, opTypes, opKeys := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seqs, at := make([]int32, n), make([]time.Time, n)
	for i, r := range refs {
		types[i], keys[i] = r.Ref.TypeID, r.Ref.Identity()
		receipts[i], seqs[i], at[i] = r.Op.ReceiptID, int32(r.Op.Seq), r.Op.DeliveryAt
		opTypes[i], opKeys[i] = r.OpType, r.OpKey
	}
	_, err := tx.Exec(ctx, `INSERT INTO parked_refs (merchant_id, type_id, key, receipt_id, seq, delivery_at, op_type, op_key, parked_at)
		SELECT $1, u.type_id, u.key, u.receipt_id, u.seq, u.delivery_at, u.op_type, u.op_key, now()
		FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::timestamptz[], $7::text[], $8::text[])
			AS u(type_id, key, receipt_id, seq, delivery_at, op_type, op_key)
		ON CONFLICT DO NOTHING`, merchant, types, keys, receipts, seqs, at, opTypes, opKeys)
	if err != nil {
		return fmt.Errorf("resolver: park: %w", err)
	}
	return nil
}

// parkedOfTypes returns those of refs whose type has operations parked on
// references of it for the merchant.
func parkedOfTypes(ctx context.Context, tx pgx.Tx, merchant string, refs []catalog.Reference) ([]catalog.Reference, error) {
	var types []string
	for _, r := range refs {
		if !slices.Contains(types, r.TypeID) {
			types = append(types, r.TypeID)
		}
	}
	rows, err := tx.Query(ctx, `SELECT t FROM unnest($2::text[]) AS t
		WHERE EXISTS (SELECT 1 FROM parked_refs WHERE merchant_id = $1 AND type_id = t)`, database.Prepared, merchant, types)
	if err != nil {
		return nil, fmt.Errorf("resolver: parked types: %w", err)
	}
	parked, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("resolver: parked types: %w", err)
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
	// One probe of the primary key per reference (LATERAL, in key order so
	// that the primary key is the index that serves it), under a generic
	// plan: with the arrays as constants, planning costs far more than
	// running, and the custom plan reads every parked reference of the
	// merchant once per key when one key has many. Prepared, the connection
	// keeps that plan (docs/performance.md).
	restore, err := store.SetPlanner(ctx, tx, "plan_cache_mode", "force_generic_plan")
	if err != nil {
		return nil, 0, err
	}
	rows, err := tx.Query(ctx, `DELETE FROM parked_refs p USING (
			SELECT x.type_id, x.key, x.receipt_id, x.seq, x.delivery_at
			FROM unnest($2::text[], $3::text[]) AS r(type_id, key)
			CROSS JOIN LATERAL (SELECT p2.type_id, p2.key, p2.receipt_id, p2.seq, p2.delivery_at FROM parked_refs p2
				WHERE p2.merchant_id = $1 AND p2.type_id = r.type_id AND p2.key = r.key
				ORDER BY p2.type_id, p2.key, p2.receipt_id, p2.seq, p2.delivery_at LIMIT $4) x
			LIMIT $4) s
		WHERE p.merchant_id = $1 AND p.type_id = s.type_id AND p.key = s.key AND p.receipt_id = s.receipt_id
			AND p.seq = s.seq AND p.delivery_at = s.delivery_at
		RETURNING p.receipt_id, p.seq, p.delivery_at, p.type_id, p.key`, database.Prepared, merchant, types, keys, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("resolver: unpark: %w", err)
	}
	out := map[tracking.OpRef][]catalog.Reference{}
	var op tracking.OpRef
	var typeID, key string
	n := 0
	_, err = pgx.ForEachRow(rows, []any{&op.ReceiptID, &op.Seq, &op.DeliveryAt, &typeID, &key}, func() error {
		op.MerchantID = merchant
		op.DeliveryAt = op.DeliveryAt.UTC()
		out[op] = append(out[op], refOf(typeID, key))
		n++
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("resolver: unpark: %w", err)
	}
	if err := restore(); err != nil {
		return nil, 0, err
	}
	return out, n, nil
}

// parkedRefsOf returns the references the given operations still wait on.
func parkedRefsOf(ctx context.Context, tx pgx.Tx, ops []tracking.OpRef) (map[tracking.OpRef][]catalog.Reference, error) {
	out := map[tracking.OpRef][]catalog.Reference{}
	if len(ops) == 0 {
		return out, nil
	}
	receipts, seqs, at := make([]string, len(ops)), make([]int32, len(ops)), make([]time.Time, len(ops))
	for i, op := range ops {
		receipts[i], seqs[i], at[i] = op.ReceiptID, int32(op.Seq), op.DeliveryAt
	}
	rows, err := tx.Query(ctx, `SELECT p.merchant_id, p.receipt_id, p.seq, p.delivery_at, p.type_id, p.key
		FROM unnest($1::text[], $2::int[], $3::timestamptz[]) AS u(receipt_id, seq, delivery_at)
		CROSS JOIN LATERAL (SELECT merchant_id, receipt_id, seq, delivery_at, type_id, key FROM parked_refs
			WHERE receipt_id = u.receipt_id AND delivery_at = u.delivery_at AND seq = u.seq) p`, receipts, seqs, at)
	if err != nil {
		return nil, fmt.Errorf("resolver: parked references: %w", err)
	}
	var op tracking.OpRef
	var typeID, key string
	_, err = pgx.ForEachRow(rows, []any{&op.MerchantID, &op.ReceiptID, &op.Seq, &op.DeliveryAt, &typeID, &key}, func() error {
		op.DeliveryAt = op.DeliveryAt.UTC()
		out[op] = append(out[op], refOf(typeID, key))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("resolver: parked references: %w", err)
	}
	return out, nil
}

// parkedOwners returns the operations of type opType parked on ref.
func parkedOwners(ctx context.Context, tx pgx.Tx, merchant string, ref catalog.Reference, opType string) ([]tracking.OpRef, error) {
	rows, err := tx.Query(ctx, `SELECT receipt_id, seq, delivery_at FROM parked_refs
		WHERE merchant_id = $1 AND type_id = $2 AND key = $3 AND op_type = $4 ORDER BY parked_at, receipt_id, seq`,
		merchant, ref.TypeID, ref.Identity(), opType)
	if err != nil {
		return nil, fmt.Errorf("resolver: parked on %s %s: %w", ref.TypeID, ref.Identity(), err)
	}
	var out []tracking.OpRef
	var op tracking.OpRef
	_, err = pgx.ForEachRow(rows, []any{&op.ReceiptID, &op.Seq, &op.DeliveryAt}, func() error {
		op.MerchantID = merchant
		op.DeliveryAt = op.DeliveryAt.UTC()
		out = append(out, op)
		return nil
	})
	return out, err
}

// pairingLock serialises master-variant pairing for the products: a product
// that starts waiting and its master variant arriving at the same moment
// take the same row lock, so the second sees the first.
func pairingLock(ctx context.Context, tx pgx.Tx, merchant string, productKeys []string) error {
	if len(productKeys) == 0 {
		return nil
	}
	keys := slices.Clone(productKeys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	// The absent rows first (an insert holds the row it inserts; a second
	// inserter waits for it here, before it holds any other), then every
	// row exclusively, one probe per key in byte order (see variantsLock in
	// catalog for why not "key = ANY(…) ORDER BY key"). Not FOR SHARE first:
	// two sharers of a row then each wait for the other's FOR UPDATE.
	if _, err := tx.Exec(ctx, `INSERT INTO known_keys (merchant_id, type_id, key)
		SELECT $1, $2, k FROM unnest($3::text[]) AS k
		ON CONFLICT DO NOTHING`, merchant, masterTypeID, keys); err != nil {
		return fmt.Errorf("resolver: pairing rows: %w", err)
	}
	_, err := tx.Exec(ctx, `SELECT k.key FROM unnest($3::text[]) WITH ORDINALITY AS s(key, n)
		CROSS JOIN LATERAL (SELECT key FROM known_keys WHERE merchant_id = $1 AND type_id = $2 AND key = s.key LIMIT 1 FOR UPDATE) k
		ORDER BY s.n`, merchant, masterTypeID, keys)
	return err
}

// categoryCycle returns the cycle that parking category self on parent
// would close ("a", "b", "a"), or nil. It follows the parents of parked
// categories of the merchant. Only a cycle back to self counts: a category
// that hangs off a cycle of others (kd → ka → kb → ka) waits, and the
// cycle's members fail on their own.
func categoryCycle(ctx context.Context, tx pgx.Tx, merchant, self, parent string) ([]string, error) {
	var path []string
	// The first term's keys collate as parked_refs.key does (migration
	// 00009): a recursive query's terms must agree.
	err := tx.QueryRow(ctx, `WITH RECURSIVE chain(key, path, cyc) AS (
			SELECT $2::text COLLATE "C", ARRAY[$3::text, $2::text] COLLATE "C", $2::text = $3::text
			UNION ALL
			SELECT p.key, c.path || p.key, p.key = ANY(c.path)
			FROM chain c JOIN parked_refs p ON p.merchant_id = $1 AND p.op_type = 'Category' AND p.op_key = c.key AND p.type_id = 'category'
			WHERE NOT c.cyc AND cardinality(c.path) < 128)
		SELECT path FROM chain WHERE cyc AND key = $3::text LIMIT 1`, merchant, parent, self).Scan(&path)
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("resolver: cycle check of category %s: %w", self, err)
	}
	// The cycle starts where the repeated key first appears.
	last := path[len(path)-1]
	for i, k := range path {
		if k == last {
			return path[i:], nil
		}
	}
	return path, nil
}

// refOf makes a reference from a registry or parking row.
func refOf(typeID, key string) catalog.Reference {
	if typeID == masterTypeID {
		return catalog.Reference{TypeID: typeID, Key: key}
	}
	return catalog.Reference{TypeID: typeID, Key: key}.Normalize()
}
