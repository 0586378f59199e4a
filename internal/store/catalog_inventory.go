package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/internal/database"
)

var (
	inventoryGetSQL    = getSQL(TableInventory, "sku")
	inventoryUpsertSQL = upsertSQL(TableInventory, "sku", "quantity_on_stock", "int8", "r.extra")
)

// InventoryGet returns the data of the inventory entry of the sku.
func InventoryGet(ctx context.Context, db database.DBTX, merchant, sku string) (data []byte, found bool, err error) {
	return catalogGet(ctx, db, inventoryGetSQL, merchant, sku)
}

// InventoryChannels calls each with the key of the supply channel ("" for
// none) of the inventory entries of the given skus.
func InventoryChannels(ctx context.Context, db database.DBTX, merchant string, skus []string, each func(sku, channel string) error) error {
	rows, err := db.Query(ctx, `SELECT sku, coalesce(data->'supplyChannel'->>'key', '') FROM catalog_inventory
		WHERE merchant_id = $1 AND sku = ANY($2)`, merchant, skus)
	if err != nil {
		return err
	}
	var sku, channel string
	_, err = pgx.ForEachRow(rows, []any{&sku, &channel}, func() error { return each(sku, channel) })
	return err
}

// InventoryUpsert writes inventory entries (see upsertSQL), rows.Keys
// their skus and quantities[i] the quantity on stock of rows.Keys[i], and
// calls each for every row.
func InventoryUpsert(ctx context.Context, db database.DBTX, merchant string, rows CatalogRows, quantities []int64, each func(CatalogUpserted) error) error {
	return catalogUpsert(ctx, db, inventoryUpsertSQL, merchant, rows, quantities, each)
}
