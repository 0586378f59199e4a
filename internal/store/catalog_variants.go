package store

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/importd/importd/internal/database"
)

// VariantsGet returns the variant with the sku as the catalog gives it:
// its row's data with its product and, for the master, isMasterVariant.
func VariantsGet(ctx context.Context, db database.DBTX, merchant, sku string) (data []byte, found bool, err error) {
	return catalogGet(ctx, db, `SELECT data || jsonb_build_object('product', jsonb_build_object('typeId', 'product', 'key', product_key))
		|| CASE WHEN is_master THEN '{"isMasterVariant": true}'::jsonb ELSE '{}' END
		FROM catalog_variants WHERE merchant_id = $1 AND sku = $2`, merchant, sku)
}

// VariantLocked is a variant row as VariantsLock reads it: Position -1 for
// none, and the order of the record that wrote it last (WrittenAt not
// Valid: none).
type VariantLocked struct {
	SKU            string
	Product        string
	IsMaster       bool
	Position       int32
	Version        int64
	WrittenAt      pgtype.Timestamptz
	WrittenSeq     int32
	WrittenReceipt string
}

// VariantsLock locks the variants with the given skus until the end of the
// transaction and calls each for every one, in sku order.
func VariantsLock(ctx context.Context, db database.DBTX, merchant string, skus []string, each func(VariantLocked) error) error {
	// One primary-key probe per sku, in byte order (Go's string order), so
	// that rows are locked in one order everywhere. Not "sku = ANY(…) ORDER
	// BY sku": to return rows in order without a sort, PostgreSQL 15 may scan
	// every variant of the merchant with the array as a filter, a cost that
	// grows with the catalog.
	skus = slices.Clone(skus)
	slices.Sort(skus)
	skus = slices.Compact(skus)
	rows, err := db.Query(ctx, `SELECT v.sku, v.product_key, v.is_master, coalesce(v.position, -1), v.version,
			v.written_at, coalesce(v.written_seq, 0), coalesce(v.written_receipt, '')
		FROM unnest($2::text[]) WITH ORDINALITY AS s(sku, n)
		CROSS JOIN LATERAL (SELECT sku, product_key, is_master, position, version, written_at, written_seq, written_receipt FROM catalog_variants
			WHERE merchant_id = $1 AND sku = s.sku LIMIT 1 FOR UPDATE) v
		ORDER BY s.n`, merchant, skus)
	if err != nil {
		return err
	}
	var v VariantLocked
	_, err = pgx.ForEachRow(rows, []any{&v.SKU, &v.Product, &v.IsMaster, &v.Position, &v.Version, &v.WrittenAt, &v.WrittenSeq, &v.WrittenReceipt},
		func() error { return each(v) })
	return err
}

// VariantsExisting calls each with those of skus that are variants.
func VariantsExisting(ctx context.Context, db database.DBTX, merchant string, skus []string, each func(sku string) error) error {
	rows, err := db.Query(ctx, `SELECT sku FROM catalog_variants WHERE merchant_id = $1 AND sku = ANY($2)`, merchant, skus)
	if err != nil {
		return err
	}
	var sku string
	_, err = pgx.ForEachRow(rows, []any{&sku}, func() error { return each(sku) })
	return err
}

// VariantsAttributes calls each with the attributes (a JSON array) of
// every variant of the given products. attrs is valid only during the call.
func VariantsAttributes(ctx context.Context, db database.DBTX, merchant string, products []string, each func(product, sku string, attrs []byte) error) error {
	rows, err := db.Query(ctx, `SELECT product_key, sku, coalesce(data->'attributes', '[]') FROM catalog_variants
		WHERE merchant_id = $1 AND product_key = ANY($2)`, merchant, products)
	if err != nil {
		return err
	}
	var product, sku string
	var attrs []byte
	_, err = pgx.ForEachRow(rows, []any{&product, &sku, &attrs}, func() error { return each(product, sku, attrs) })
	return err
}

// VariantsDemote takes the master role from the variants of products but
// skus[i] of products[i] (a new version), and calls each for every variant
// demoted.
func VariantsDemote(ctx context.Context, db database.DBTX, merchant string, products, skus []string, each func(product, sku string) error) error {
	rows, err := db.Query(ctx, `UPDATE catalog_variants AS v
		SET is_master = false, version = v.version + 1, last_modified_at = now()
		FROM unnest($2::text[], $3::text[]) AS m(product_key, sku)
		WHERE v.merchant_id = $1 AND v.product_key = ANY($2::text[]) AND v.product_key = m.product_key AND v.is_master AND v.sku <> m.sku
		RETURNING v.product_key, v.sku`, merchant, products, skus)
	if err != nil {
		return err
	}
	var product, sku string
	_, err = pgx.ForEachRow(rows, []any{&product, &sku}, func() error { return each(product, sku) })
	return err
}

// VariantRows are variant rows to upsert, column by column, every column
// as long as SKUs: Positions -1 for none, Data jsonb text, and the order of
// the record that writes each row (WrittenAt not Valid: none).
type VariantRows struct {
	SKUs           []string
	Products       []string
	Masters        []bool
	Positions      []int32
	Data           []string
	WrittenAt      []pgtype.Timestamptz
	WrittenSeq     []int32
	WrittenReceipt []string
}

// VariantsUpsert writes variant rows and calls each for every row written,
// with its version after the statement. A variant is only ever written for
// the product it belongs to: a row of another product is left alone and
// not returned. A row is written when its role, position or data changes
// (a new version) or when only the order of the record that wrote it does
// (the version stays).
func VariantsUpsert(ctx context.Context, db database.DBTX, merchant string, r VariantRows, each func(sku string, version int64, inserted bool) error) error {
	rows, err := db.Query(ctx, `INSERT INTO catalog_variants AS v (merchant_id, sku, product_key, is_master, position, data, written_at, written_seq, written_receipt)
		SELECT $1, r.sku, r.product_key, r.is_master, nullif(r.position, -1), r.data::jsonb,
			r.at, CASE WHEN r.at IS NOT NULL THEN r.seq END, CASE WHEN r.at IS NOT NULL THEN r.receipt END
		FROM unnest($2::text[], $3::text[], $4::bool[], $5::int4[], $6::text[], $7::timestamptz[], $8::int4[], $9::text[])
			AS r(sku, product_key, is_master, position, data, at, seq, receipt)
		ON CONFLICT (merchant_id, sku) DO UPDATE
		SET is_master = excluded.is_master, position = excluded.position, data = excluded.data,
			version = v.version + ((v.is_master, v.position, v.data) IS DISTINCT FROM (excluded.is_master, excluded.position, excluded.data))::int,
			last_modified_at = CASE WHEN (v.is_master, v.position, v.data) IS DISTINCT FROM (excluded.is_master, excluded.position, excluded.data)
				THEN now() ELSE v.last_modified_at END,
			written_at = excluded.written_at, written_seq = excluded.written_seq, written_receipt = excluded.written_receipt
		WHERE v.product_key = excluded.product_key
			AND (v.is_master, v.position, v.data, v.written_at, v.written_seq, v.written_receipt)
				IS DISTINCT FROM (excluded.is_master, excluded.position, excluded.data, excluded.written_at, excluded.written_seq, excluded.written_receipt)
		RETURNING v.sku, v.version, v.xmax = 0`, merchant, r.SKUs, r.Products, r.Masters, r.Positions, r.Data, r.WrittenAt, r.WrittenSeq, r.WrittenReceipt)
	if err != nil {
		return err
	}
	var sku string
	var version int64
	var inserted bool
	_, err = pgx.ForEachRow(rows, []any{&sku, &version, &inserted}, func() error { return each(sku, version, inserted) })
	return err
}
