package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/internal/database"
)

var (
	pricesGetSQL    = getSQL(TablePrices, "key")
	pricesUpsertSQL = upsertSQL(TablePrices, "key", "sku", "text", "r.extra")
)

// PricesGet returns the data of the price with the key.
func PricesGet(ctx context.Context, db database.DBTX, merchant, key string) (data []byte, found bool, err error) {
	return catalogGet(ctx, db, pricesGetSQL, merchant, key)
}

// PricesOfSKUs calls each with the key and the data of every price of the
// variants with the given skus. data is valid only during the call.
func PricesOfSKUs(ctx context.Context, db database.DBTX, merchant string, skus []string, each func(sku, key string, data []byte) error) error {
	rows, err := db.Query(ctx, `SELECT sku, key, data FROM catalog_prices WHERE merchant_id = $1 AND sku = ANY($2)`, merchant, skus)
	if err != nil {
		return err
	}
	var sku, key string
	var data []byte
	_, err = pgx.ForEachRow(rows, []any{&sku, &key, &data}, func() error { return each(sku, key, data) })
	return err
}

// PricesUpsert writes prices (see upsertSQL), skus[i] the sku of the
// variant of rows.Keys[i], and calls each for every row.
func PricesUpsert(ctx context.Context, db database.DBTX, merchant string, rows CatalogRows, skus []string, each func(CatalogUpserted) error) error {
	return catalogUpsert(ctx, db, pricesUpsertSQL, merchant, rows, skus, each)
}
