package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/internal/database"
)

// ParkedRef is a row of parked_refs: an operation waiting for a resource,
// named by its typeId and key (a sku for variants and inventory).
type ParkedRef struct {
	MerchantID string
	TypeID     string
	Key        string
	ReceiptID  string
	DeliveryAt time.Time
	Seq        int
	OpType     string // the waiting operation's resource type
	OpKey      string // and its key
}

// ParkedRefsInsert parks operations on their missing references; a
// reference already parked stays as it is.
func ParkedRefsInsert(ctx context.Context, db database.DBTX, merchant string, refs []ParkedRef) error {
	if len(refs) == 0 {
		return nil
	}
	n := len(refs)
	types, keys, receipts, opTypes, opKeys := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seqs, at := make([]int32, n), make([]time.Time, n)
	for i, r := range refs {
		types[i], keys[i] = r.TypeID, r.Key
		receipts[i], seqs[i], at[i] = r.ReceiptID, int32(r.Seq), r.DeliveryAt
		opTypes[i], opKeys[i] = r.OpType, r.OpKey
	}
	_, err := db.Exec(ctx, `INSERT INTO parked_refs (merchant_id, type_id, key, receipt_id, seq, delivery_at, op_type, op_key, parked_at)
		SELECT $1, u.type_id, u.key, u.receipt_id, u.seq, u.delivery_at, u.op_type, u.op_key, now()
		FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::timestamptz[], $7::text[], $8::text[])
			AS u(type_id, key, receipt_id, seq, delivery_at, op_type, op_key)
		ON CONFLICT DO NOTHING`, merchant, types, keys, receipts, seqs, at, opTypes, opKeys)
	if err != nil {
		return fmt.Errorf("store: park: %w", err)
	}
	return nil
}

// ParkedRefsTypesWaited returns those of typeIDs on references of which
// operations of the merchant are parked.
func ParkedRefsTypesWaited(ctx context.Context, db database.DBTX, merchant string, typeIDs []string) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT t FROM unnest($2::text[]) AS t
		WHERE EXISTS (SELECT 1 FROM parked_refs WHERE merchant_id = $1 AND type_id = t)`, database.Prepared, merchant, typeIDs)
	if err != nil {
		return nil, fmt.Errorf("store: parked types: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("store: parked types: %w", err)
	}
	return out, nil
}

// ParkedRefsTake deletes up to limit parked references to the references
// (typeIDs[i], keys[i]) and returns them. MerchantID, OpType and OpKey of
// the rows returned are not set.
func ParkedRefsTake(ctx context.Context, tx pgx.Tx, merchant string, typeIDs, keys []string, limit int) ([]ParkedRef, error) {
	// One probe of the primary key per reference (LATERAL, in key order so
	// that the primary key is the index that serves it), under a generic
	// plan: with the arrays as constants, planning costs far more than
	// running, and the custom plan reads every parked reference of the
	// merchant once per key when one key has many. Prepared, the connection
	// keeps that plan (docs/performance.md).
	restore, err := SetPlanner(ctx, tx, "plan_cache_mode", "force_generic_plan")
	if err != nil {
		return nil, err
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
		RETURNING p.receipt_id, p.seq, p.delivery_at, p.type_id, p.key`, database.Prepared, merchant, typeIDs, keys, limit)
	if err != nil {
		return nil, fmt.Errorf("store: unpark: %w", err)
	}
	var out []ParkedRef
	var r ParkedRef
	_, err = pgx.ForEachRow(rows, []any{&r.ReceiptID, &r.Seq, &r.DeliveryAt, &r.TypeID, &r.Key}, func() error {
		r.DeliveryAt = r.DeliveryAt.UTC()
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: unpark: %w", err)
	}
	if err := restore(); err != nil {
		return nil, err
	}
	return out, nil
}

// OpKey names an operation by its delivery and position.
type OpKey struct {
	ReceiptID  string
	DeliveryAt time.Time
	Seq        int
}

// ParkedRefsOf returns the references the given operations wait on.
// OpType and OpKey of the rows are not set.
func ParkedRefsOf(ctx context.Context, db database.DBTX, ops []OpKey) ([]ParkedRef, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	receipts, seqs, at := make([]string, len(ops)), make([]int32, len(ops)), make([]time.Time, len(ops))
	for i, op := range ops {
		receipts[i], seqs[i], at[i] = op.ReceiptID, int32(op.Seq), op.DeliveryAt
	}
	rows, err := db.Query(ctx, `SELECT p.merchant_id, p.receipt_id, p.seq, p.delivery_at, p.type_id, p.key
		FROM unnest($1::text[], $2::int[], $3::timestamptz[]) AS u(receipt_id, seq, delivery_at)
		CROSS JOIN LATERAL (SELECT merchant_id, receipt_id, seq, delivery_at, type_id, key FROM parked_refs
			WHERE receipt_id = u.receipt_id AND delivery_at = u.delivery_at AND seq = u.seq) p`, receipts, seqs, at)
	if err != nil {
		return nil, fmt.Errorf("store: parked references: %w", err)
	}
	var out []ParkedRef
	var r ParkedRef
	_, err = pgx.ForEachRow(rows, []any{&r.MerchantID, &r.ReceiptID, &r.Seq, &r.DeliveryAt, &r.TypeID, &r.Key}, func() error {
		r.DeliveryAt = r.DeliveryAt.UTC()
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: parked references: %w", err)
	}
	return out, nil
}

// ParkedRefsOwners returns the operations of type opType parked on the
// reference (typeID, key), oldest first.
func ParkedRefsOwners(ctx context.Context, db database.DBTX, merchant, typeID, key, opType string) ([]OpKey, error) {
	rows, err := db.Query(ctx, `SELECT receipt_id, seq, delivery_at FROM parked_refs
		WHERE merchant_id = $1 AND type_id = $2 AND key = $3 AND op_type = $4 ORDER BY parked_at, receipt_id, seq`,
		merchant, typeID, key, opType)
	if err != nil {
		return nil, fmt.Errorf("store: parked on %s %s: %w", typeID, key, err)
	}
	var out []OpKey
	var op OpKey
	_, err = pgx.ForEachRow(rows, []any{&op.ReceiptID, &op.Seq, &op.DeliveryAt}, func() error {
		op.DeliveryAt = op.DeliveryAt.UTC()
		out = append(out, op)
		return nil
	})
	return out, err
}

// ParkedRefsDeleteOp deletes every parked reference of one operation.
func ParkedRefsDeleteOp(ctx context.Context, db database.DBTX, op OpKey) error {
	if _, err := db.Exec(ctx, `DELETE FROM parked_refs WHERE receipt_id = $1 AND delivery_at = $2 AND seq = $3`,
		op.ReceiptID, op.DeliveryAt, op.Seq); err != nil {
		return fmt.Errorf("store: unpark operation: %w", err)
	}
	return nil
}

// ParkedRefsExisting returns up to limit distinct references operations
// are parked on that exist (resource_keys: the registry or the catalog):
// what an event missed. A reference of type pseudoType waits on the product with its key
// (the master-variant pseudo reference), and is returned as that product.
func ParkedRefsExisting(ctx context.Context, db database.DBTX, pseudoType string, limit int) ([]ParkedRef, error) {
	// Driven by the parked references (few) with one probe each (LATERAL …
	// LIMIT 1): a join lets the planner hash the whole registry,
	// every resource of every merchant, every two seconds, a cost that grows
	// with the catalog.
	rows, err := db.Query(ctx, `SELECT DISTINCT p.merchant_id, k.type_id, p.key FROM parked_refs p
		CROSS JOIN LATERAL (SELECT k.type_id FROM resource_keys k
			WHERE k.merchant_id = p.merchant_id AND k.type_id = CASE WHEN p.type_id = $1 THEN 'product' ELSE p.type_id END
				AND k.key = p.key LIMIT 1) k
		LIMIT $2`, pseudoType, limit)
	if err != nil {
		return nil, fmt.Errorf("store: parked on existing keys: %w", err)
	}
	var out []ParkedRef
	var r ParkedRef
	_, err = pgx.ForEachRow(rows, []any{&r.MerchantID, &r.TypeID, &r.Key}, func() error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// ParkedRefsMastersWaiting returns up to limit (merchant, product) pairs of
// a product parked on its master variant (pseudoType) while a
// ProductVariant of it is parked on the product: a pair to make. Only
// MerchantID and Key are set.
func ParkedRefsMastersWaiting(ctx context.Context, db database.DBTX, pseudoType string, limit int) ([]ParkedRef, error) {
	rows, err := db.Query(ctx, `SELECT DISTINCT m.merchant_id, m.key FROM parked_refs m
		JOIN parked_refs v ON v.merchant_id = m.merchant_id AND v.type_id = 'product' AND v.key = m.key AND v.op_type = 'ProductVariant'
		WHERE m.type_id = $1 LIMIT $2`, pseudoType, limit)
	if err != nil {
		return nil, fmt.Errorf("store: masters waiting: %w", err)
	}
	var out []ParkedRef
	var r ParkedRef
	_, err = pgx.ForEachRow(rows, []any{&r.MerchantID, &r.Key}, func() error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// ParkedRefsCategoryEdges returns up to limit categories parked on their
// parent for over a second: MerchantID, OpKey (the category) and Key (its
// parent).
func ParkedRefsCategoryEdges(ctx context.Context, db database.DBTX, limit int) ([]ParkedRef, error) {
	rows, err := db.Query(ctx, `SELECT merchant_id, op_key, key FROM parked_refs
		WHERE op_type = 'Category' AND type_id = 'category' AND parked_at < now() - interval '1 second' LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: parked categories: %w", err)
	}
	var out []ParkedRef
	var r ParkedRef
	_, err = pgx.ForEachRow(rows, []any{&r.MerchantID, &r.OpKey, &r.Key}, func() error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// ParkedRefsCategoryCycle returns the cycle that parking category self on
// parent would close ("a", "b", "a"), or nil. It follows the parents of
// parked categories of the merchant. Only a cycle back to self counts: a
// category that hangs off a cycle of others (kd → ka → kb → ka) waits, and
// the cycle's members fail on their own.
func ParkedRefsCategoryCycle(ctx context.Context, db database.DBTX, merchant, self, parent string) ([]string, error) {
	var path []string
	// The first term's keys collate as parked_refs.key does (migration
	// 00009): a recursive query's terms must agree.
	err := db.QueryRow(ctx, `WITH RECURSIVE chain(key, path, cyc) AS (
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
		return nil, fmt.Errorf("store: cycle check of category %s: %w", self, err)
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

// ParkedRefsDeleteOps deletes every parked reference of the operations of
// the delivery (receipt, at) at seqs.
func ParkedRefsDeleteOps(ctx context.Context, db database.DBTX, receipt string, at time.Time, seqs []int) error {
	if _, err := db.Exec(ctx, `DELETE FROM parked_refs WHERE receipt_id = $1 AND delivery_at = $2 AND seq = any($3)`,
		receipt, at, seqs); err != nil {
		return fmt.Errorf("store: unpark operations: %w", err)
	}
	return nil
}

// MissingRef is a reference operations of a delivery are parked on, with
// how many.
type MissingRef struct {
	TypeID     string
	Key        string
	Operations int64
}

// ParkedRefsMissing returns up to limit references the delivery's parked
// operations wait for, the most waited for first.
func ParkedRefsMissing(ctx context.Context, db database.DBTX, receipt string, at time.Time, limit int) ([]MissingRef, error) {
	rows, err := db.Query(ctx, `SELECT type_id, key, count(*) FROM parked_refs
		WHERE receipt_id = $1 AND delivery_at = $2
		GROUP BY type_id, key ORDER BY count(*) DESC, type_id, key LIMIT $3`, receipt, at, limit)
	if err != nil {
		return nil, err
	}
	var out []MissingRef
	var m MissingRef
	_, err = pgx.ForEachRow(rows, []any{&m.TypeID, &m.Key, &m.Operations}, func() error {
		out = append(out, m)
		return nil
	})
	return out, err
}
