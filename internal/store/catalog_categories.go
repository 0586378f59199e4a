package store

import (
	"context"

	"github.com/importd/importd/internal/database"
)

var (
	categoriesGetSQL    = getSQL(TableCategories, "key")
	categoriesUpsertSQL = upsertSQL(TableCategories, "key", "parent_key", "text", "nullif(r.extra, '')")
)

// CategoriesGet returns the data of the category with the key.
func CategoriesGet(ctx context.Context, db database.DBTX, merchant, key string) (data []byte, found bool, err error) {
	return catalogGet(ctx, db, categoriesGetSQL, merchant, key)
}

// CategoriesUpsert writes categories (see upsertSQL), parents[i] the key
// of the parent of rows.Keys[i] ("" for none), and calls each for every row.
func CategoriesUpsert(ctx context.Context, db database.DBTX, merchant string, rows CatalogRows, parents []string, each func(CatalogUpserted) error) error {
	return catalogUpsert(ctx, db, categoriesUpsertSQL, merchant, rows, parents, each)
}
