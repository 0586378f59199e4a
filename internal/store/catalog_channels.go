package store

import (
	"context"

	"github.com/importd/importd/internal/database"
)

var (
	channelsGetSQL    = getSQL(TableChannels, "key")
	channelsUpsertSQL = upsertSQL(TableChannels, "key", "", "", "")
)

// ChannelsGet returns the data of the channel with the key.
func ChannelsGet(ctx context.Context, db database.DBTX, merchant, key string) (data []byte, found bool, err error) {
	return catalogGet(ctx, db, channelsGetSQL, merchant, key)
}

// ChannelsUpsert writes channels (see upsertSQL) and calls each for every row.
func ChannelsUpsert(ctx context.Context, db database.DBTX, merchant string, rows CatalogRows, each func(CatalogUpserted) error) error {
	return catalogUpsert(ctx, db, channelsUpsertSQL, merchant, rows, make([]string, len(rows.Keys)), each)
}
