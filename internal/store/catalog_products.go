package store

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/internal/database"
)

var productsUpsertSQL = upsertSQL(TableProducts, "key", "product_type_key", "text", "r.extra")

// ProductsGet returns the product with the key as the catalog gives it:
// its row's data with its variants, the master as masterVariant and the
// others as variants (by position, then sku).
func ProductsGet(ctx context.Context, db database.DBTX, merchant, key string) (data []byte, found bool, err error) {
	return catalogGet(ctx, db, `SELECT p.data
		|| coalesce((SELECT jsonb_build_object('masterVariant', v.data) FROM catalog_variants v
			WHERE v.merchant_id = p.merchant_id AND v.product_key = p.key AND v.is_master), '{}')
		|| coalesce((SELECT jsonb_build_object('variants', jsonb_agg(v.data ORDER BY v.position NULLS LAST, v.sku)) FROM catalog_variants v
			WHERE v.merchant_id = p.merchant_id AND v.product_key = p.key AND NOT v.is_master HAVING count(*) > 0), '{}')
		FROM catalog_products p WHERE p.merchant_id = $1 AND p.key = $2`, merchant, key)
}

// ProductsTypes calls each with the key and the product type of the
// products with the given keys.
func ProductsTypes(ctx context.Context, db database.DBTX, merchant string, keys []string, each func(key, typeKey string) error) error {
	rows, err := db.Query(ctx, `SELECT key, product_type_key FROM catalog_products
		WHERE merchant_id = $1 AND key = ANY($2)`, merchant, keys)
	if err != nil {
		return err
	}
	var key, typeKey string
	_, err = pgx.ForEachRow(rows, []any{&key, &typeKey}, func() error { return each(key, typeKey) })
	return err
}

// ProductsUpsert writes products (see upsertSQL), typeKeys[i] the key of
// the product type of rows.Keys[i], and calls each for every row.
func ProductsUpsert(ctx context.Context, db database.DBTX, merchant string, rows CatalogRows, typeKeys []string, each func(CatalogUpserted) error) error {
	return catalogUpsert(ctx, db, productsUpsertSQL, merchant, rows, typeKeys, each)
}

// ProductsTouch counts a change of the products with the given keys (a
// change of their variants): a new version. It sorts keys, so that rows
// are locked in one order.
func ProductsTouch(ctx context.Context, db database.DBTX, merchant string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	_, err := db.Exec(ctx, `UPDATE catalog_products SET version = version + 1, last_modified_at = now()
		WHERE merchant_id = $1 AND key = ANY($2)`, merchant, keys)
	return err
}
