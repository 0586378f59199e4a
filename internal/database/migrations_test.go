package database_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/internal/testenv"
)

// Migrations 00008 and 00009 go down and up again over a partition holding
// operations: the generated column is computed for the rows already there,
// the foreign keys come back, and identities collate as bytes only on the
// way up.
func TestMigrations8And9DownUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.DB(t)
	_, err := pool.Exec(ctx, `CREATE TABLE operations_ptest PARTITION OF operations FOR VALUES FROM ('2020-01-01') TO ('2020-01-02')`)
	require.NoError(t, err)
	insert := func(seq int, state string) {
		_, err := pool.Exec(ctx, `INSERT INTO operations (id, delivery_at, receipt_id, merchant_id, seq, line, resource_type, resource_key,
				state, stage, created_at, last_modified_at, expires_at, last_tracking_id, last_tracking_code, last_message)
			VALUES (gen_random_uuid(), '2020-01-01T01:00:00Z', 'r-migration', 'm1', $1::int, $1::int, 'Product', 'k' || $1::int,
				$2, 1, now(), now(), now(), gen_random_uuid(), 2000, '')`, seq, state)
		require.NoError(t, err)
	}
	failed := func() []int {
		rows, err := pool.Query(ctx, `SELECT seq FROM operations WHERE receipt_id = 'r-migration' AND failed ORDER BY seq`)
		require.NoError(t, err)
		var seqs []int
		for rows.Next() {
			var s int
			require.NoError(t, rows.Scan(&s))
			seqs = append(seqs, s)
		}
		require.NoError(t, rows.Err())
		return seqs
	}
	collation := func() string {
		var c *string
		require.NoError(t, pool.QueryRow(ctx, `SELECT collation_name FROM information_schema.columns
			WHERE table_name = 'operations_ptest' AND column_name = 'resource_key'`).Scan(&c))
		if c == nil {
			return "default"
		}
		return *c
	}
	constraints := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text LIKE 'catalog_%'`).Scan(&n))
		return n
	}
	insert(1, "rejected")
	insert(2, "imported")
	insert(3, "validationFailed")
	require.Equal(t, []int{1, 3}, failed())
	// An import (processing -> imported) leaves failed as it was.
	_, err = pool.Exec(ctx, `UPDATE operations SET state = 'canceled' WHERE receipt_id = 'r-migration' AND seq = 2`)
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3}, failed())
	require.Zero(t, constraints())
	require.Equal(t, "C", collation())

	require.NoError(t, database.WithProvider(pool, func(p *goose.Provider) error {
		_, err := p.DownTo(ctx, 7)
		return err
	}))
	require.Equal(t, 3, constraints())
	require.Equal(t, "default", collation())
	var def string
	require.NoError(t, pool.QueryRow(ctx, `SELECT pg_get_indexdef('operations_failed_idx'::regclass)`).Scan(&def))
	require.Contains(t, def, "state = ANY")

	insert(4, "rejected")
	require.NoError(t, database.Migrate(ctx, pool))
	require.Equal(t, []int{1, 2, 3, 4}, failed())
	require.Zero(t, constraints())
	require.Equal(t, "C", collation())
}

// Migration 00011 down: the skus a waiting outbox row names in its Product
// events become ProductVariant events of their own, after the row's events.
func TestMigration11Down(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.DB(t)
	_, err := pool.Exec(ctx, `INSERT INTO event_outbox (merchant_id, resource_types, events, type_ids, keys, skus) VALUES
		('m1', '{Product,Category,Product}', '{created,updated,updated}', '{product,category,product}', '{p1,c1,p2}', '{"s1 s2","",s3}'),
		('m1', '{Category}', '{created}', '{category}', '{c2}', NULL)`)
	require.NoError(t, err)
	require.NoError(t, database.WithProvider(pool, func(p *goose.Provider) error {
		_, err := p.DownTo(ctx, 10)
		return err
	}))
	var rows [][]string
	r, err := pool.Query(ctx, `SELECT array_to_string(resource_types, ','), array_to_string(events, ','), array_to_string(type_ids, ','), array_to_string(keys, ',')
		FROM event_outbox ORDER BY id`)
	require.NoError(t, err)
	for r.Next() {
		var a, b, c, d string
		require.NoError(t, r.Scan(&a, &b, &c, &d))
		rows = append(rows, []string{a, b, c, d})
	}
	require.NoError(t, r.Err())
	require.Equal(t, [][]string{
		{"Product,Category,Product,ProductVariant,ProductVariant,ProductVariant", "created,updated,updated,created,created,updated",
			"product,category,product,product-variant,product-variant,product-variant", "p1,c1,p2,s1,s2,s3"},
		{"Category", "created", "category", "c2"},
	}, rows)
	require.NoError(t, database.Migrate(ctx, pool))
}

// indexCount counts the indexes named index on table.
func indexCount(t *testing.T, pool *pgxpool.Pool, table, index string) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_indexes
		WHERE indexname = $1 AND tablename = $2`, index, table).Scan(&n))
	return n
}

// downTo migrates pool down to version.
func downTo(t *testing.T, pool *pgxpool.Pool, version int64) {
	t.Helper()
	require.NoError(t, database.WithProvider(pool, func(p *goose.Provider) error {
		_, err := p.DownTo(context.Background(), version)
		return err
	}))
}

// Migration 00013 goes down and up again: the index of deliveries by
// (receipt, merchant) goes and comes back on every partition.
func TestMigration13DownUp(t *testing.T) {
	t.Parallel()
	pool := testenv.DB(t)
	indexes := func() int { return indexCount(t, pool, "deliveries", "deliveries_receipt_merchant_idx") }
	require.Equal(t, 1, indexes())
	downTo(t, pool, 12)
	require.Zero(t, indexes())
	require.NoError(t, database.Migrate(context.Background(), pool))
	require.Equal(t, 1, indexes())
}

// Migration 00018 drops an index nothing reads, and puts it back down.
func TestMigration18DownUp(t *testing.T) {
	t.Parallel()
	pool := testenv.DB(t)
	indexes := func() int { return indexCount(t, pool, "catalog_products", "catalog_products_product_type_idx") }
	require.Zero(t, indexes(), "dropped")
	downTo(t, pool, 17)
	require.Equal(t, 1, indexes(), "back on the way down")
	require.NoError(t, database.Migrate(context.Background(), pool))
	require.Zero(t, indexes())
}

// Migration 00019 adds the view of what exists, whose branches each
// resource type's lookup reads, and takes it away down.
func TestMigration19DownUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.DB(t)
	views := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_views WHERE viewname = 'resource_keys'`).Scan(&n))
		return n
	}
	require.Equal(t, 1, views())
	_, err := pool.Exec(ctx, `INSERT INTO known_keys (merchant_id, type_id, key, exists) VALUES ('m1', 'category', 'announced', true), ('m1', 'category', 'awaited', false)`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO catalog_variants (merchant_id, sku, product_key, data) VALUES ('m1', 'sku-1', 'p', '{}')`)
	require.NoError(t, err)
	var got []string
	rows, err := pool.Query(ctx, `SELECT type_id || ':' || key FROM resource_keys WHERE merchant_id = 'm1' ORDER BY 1`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		got = append(got, s)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"category:announced", "product-variant:sku-1"}, got, "what exists, not what is awaited")
	downTo(t, pool, 18)
	require.Zero(t, views())
	// The registry holds, on the way down, what the catalog held.
	var exists bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT exists FROM known_keys WHERE merchant_id = 'm1' AND type_id = 'product-variant' AND key = 'sku-1'`).Scan(&exists))
	require.True(t, exists)
	require.NoError(t, pool.QueryRow(ctx, `SELECT exists FROM known_keys WHERE merchant_id = 'm1' AND type_id = 'category' AND key = 'awaited'`).Scan(&exists))
	require.False(t, exists, "still awaited")
	require.NoError(t, database.Migrate(ctx, pool))
	require.Equal(t, 1, views())
}
