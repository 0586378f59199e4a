package store

import (
	"context"

	"github.com/importd/importd/internal/database"
)

var (
	customerGroupsGetSQL    = getSQL(TableCustomerGroups, "key")
	customerGroupsUpsertSQL = upsertSQL(TableCustomerGroups, "key", "", "", "")
)

// CustomerGroupsGet returns the data of the customer group with the key.
func CustomerGroupsGet(ctx context.Context, db database.DBTX, merchant, key string) (data []byte, found bool, err error) {
	return catalogGet(ctx, db, customerGroupsGetSQL, merchant, key)
}

// CustomerGroupsUpsert writes customer groups (see upsertSQL) and calls each for every row.
func CustomerGroupsUpsert(ctx context.Context, db database.DBTX, merchant string, rows CatalogRows, each func(CatalogUpserted) error) error {
	return catalogUpsert(ctx, db, customerGroupsUpsertSQL, merchant, rows, make([]string, len(rows.Keys)), each)
}
