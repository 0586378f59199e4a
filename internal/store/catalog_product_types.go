package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/internal/database"
)

var (
	productTypesGetSQL    = getSQL(TableProductTypes, "key")
	productTypesUpsertSQL = upsertSQL(TableProductTypes, "key", "", "", "")
)

// ProductTypesGet returns the data of the product type with the key.
func ProductTypesGet(ctx context.Context, db database.DBTX, merchant, key string) (data []byte, found bool, err error) {
	return catalogGet(ctx, db, productTypesGetSQL, merchant, key)
}

// ProductTypesLoad calls each with the data of the product types with the
// given keys and of those of the products with the given keys. data is
// valid only during the call.
func ProductTypesLoad(ctx context.Context, db database.DBTX, merchant string, keys, productKeys []string, each func(key string, data []byte) error) error {
	rows, err := db.Query(ctx, `SELECT key, data FROM catalog_product_types
		WHERE merchant_id = $1 AND (key = ANY($2) OR key IN (
			SELECT product_type_key FROM catalog_products WHERE merchant_id = $1 AND key = ANY($3)))`,
		merchant, keys, productKeys)
	if err != nil {
		return err
	}
	var key string
	var data []byte
	_, err = pgx.ForEachRow(rows, []any{&key, &data}, func() error { return each(key, data) })
	return err
}

// ProductTypesUpsert writes product types (see upsertSQL) and calls each
// for every row.
func ProductTypesUpsert(ctx context.Context, db database.DBTX, merchant string, rows CatalogRows, each func(CatalogUpserted) error) error {
	return catalogUpsert(ctx, db, productTypesUpsertSQL, merchant, rows, make([]string, len(rows.Keys)), each)
}
