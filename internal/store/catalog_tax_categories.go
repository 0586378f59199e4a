package store

import (
	"context"

	"github.com/importd/importd/internal/database"
)

var (
	taxCategoriesGetSQL    = getSQL(TableTaxCategories, "key")
	taxCategoriesUpsertSQL = upsertSQL(TableTaxCategories, "key", "", "", "")
)

// TaxCategoriesGet returns the data of the tax category with the key.
func TaxCategoriesGet(ctx context.Context, db database.DBTX, merchant, key string) (data []byte, found bool, err error) {
	return catalogGet(ctx, db, taxCategoriesGetSQL, merchant, key)
}

// TaxCategoriesUpsert writes tax categories (see upsertSQL) and calls each for every row.
func TaxCategoriesUpsert(ctx context.Context, db database.DBTX, merchant string, rows CatalogRows, each func(CatalogUpserted) error) error {
	return catalogUpsert(ctx, db, taxCategoriesUpsertSQL, merchant, rows, make([]string, len(rows.Keys)), each)
}
