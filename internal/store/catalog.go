package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/importd/importd/internal/database"
)

// The catalog (the catalog_* tables of migration 00003) is written by
// catalog.Store, which decides what each record writes; the functions here
// read and write the rows. Every write takes arrays, so that one statement
// writes a whole segment of a table. The functions return the database's
// errors as they are: the catalog names the step that failed.

// The catalog's tables.
const (
	TableProductTypes   = "catalog_product_types"
	TableCategories     = "catalog_categories"
	TableTaxCategories  = "catalog_tax_categories"
	TableCustomerGroups = "catalog_customer_groups"
	TableChannels       = "catalog_channels"
	TableProducts       = "catalog_products"
	TableVariants       = "catalog_variants"
	TablePrices         = "catalog_prices"
	TableInventory      = "catalog_inventory"
)

// CatalogCount returns how many rows of the merchant table, one of the
// catalog's tables, holds.
func CatalogCount(ctx context.Context, db database.DBTX, table, merchant string) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE merchant_id = $1`, merchant).Scan(&n)
	return n, err
}

// catalogGet runs q, which reads one resource's data ($1 merchant, $2 its
// key or sku); found is false when there is none.
func catalogGet(ctx context.Context, db database.DBTX, q, merchant, key string) (data []byte, found bool, err error) {
	err = db.QueryRow(ctx, q, merchant, key).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

// getSQL reads the data of one row of table, whose identity column is id.
func getSQL(table, id string) string {
	return `SELECT data FROM ` + table + ` WHERE merchant_id = $1 AND ` + id + ` = $2`
}

// CatalogRows are rows to upsert into a catalog table, column by column,
// every column as long as Keys: the identities (key, or sku for the tables
// identified by sku), the data (jsonb text) and the order of the record
// that writes each row (WrittenAt not Valid: none).
type CatalogRows struct {
	Keys           []string
	Data           []string
	WrittenAt      []pgtype.Timestamptz
	WrittenSeq     []int32
	WrittenReceipt []string
}

// CatalogUpserted is what the upsert of a catalog table returns of a row:
// its version after the statement (Version not Valid: not written) and,
// as the statement found it, its version (WasVersion not Valid: no row)
// and the order of the record that wrote it.
type CatalogUpserted struct {
	Key        string
	Version    pgtype.Int8
	Inserted   bool
	WasVersion pgtype.Int8
	WasAt      pgtype.Timestamptz
	WasSeq     int32
	WasReceipt string
}

// upsertSQL is the upsert of the rows of table, whose identity column is
// id and whose extra column (if any) has the given type and is written as
// expr of r.extra: $2 identities, $3 data, $4 the extra column, $5…$7 the
// records' orders. A row is written when its data changes (a new version)
// or when only the order of the record that wrote it does (the version
// stays), and never by a record before the one that last wrote it. Every
// record's row is returned, with its version after the statement (null:
// not written) and, as the statement found it, its version and order. The
// statement's other parts see the table as it was before the statement: o
// is the row as the statement found it, one primary-key probe a record (a
// join would scan the merchant's rows). The written rows and the rows found
// come back as separate rows, merged by catalogUpsert: joining them in SQL
// is a nested loop (the workers' planner settings forbid hashing), a cost
// that grows with the square of the batch.
func upsertSQL(table, id, extra, extraType, expr string) string {
	var extraCol, extraVal, extraSet string
	if extra != "" {
		extraCol, extraVal, extraSet = ", "+extra, ", "+expr, ", "+extra+" = excluded."+extra
	} else {
		extraType = "text" // $4 is unused
	}
	return `WITH r AS (
		SELECT * FROM unnest($2::text[], $3::text[], $4::` + extraType + `[], $5::timestamptz[], $6::int4[], $7::text[])
			AS r(key, data, extra, at, seq, receipt)
	), up AS (
		INSERT INTO ` + table + ` AS t (merchant_id, ` + id + `, data, written_at, written_seq, written_receipt` + extraCol + `)
		SELECT $1, r.key, r.data::jsonb, r.at, CASE WHEN r.at IS NOT NULL THEN r.seq END, CASE WHEN r.at IS NOT NULL THEN r.receipt END` + extraVal + ` FROM r
		ON CONFLICT (merchant_id, ` + id + `) DO UPDATE
		SET data = excluded.data` + extraSet + `,
			version = t.version + (t.data IS DISTINCT FROM excluded.data)::int,
			last_modified_at = CASE WHEN t.data IS DISTINCT FROM excluded.data THEN now() ELSE t.last_modified_at END,
			written_at = excluded.written_at, written_seq = excluded.written_seq, written_receipt = excluded.written_receipt
		WHERE (t.data IS DISTINCT FROM excluded.data
				OR (t.written_at, t.written_seq, t.written_receipt) IS DISTINCT FROM (excluded.written_at, excluded.written_seq, excluded.written_receipt))
			AND (t.written_at IS NULL OR excluded.written_at IS NULL
				OR (t.written_at, t.written_seq) <= (excluded.written_at, excluded.written_seq))
		RETURNING t.` + id + ` AS key, t.version, t.xmax = 0 AS inserted
	)
	SELECT true, up.key, up.version, up.inserted, NULL::timestamptz, 0, '' FROM up
	UNION ALL
	SELECT false, r.key, o.version, false, o.written_at, coalesce(o.written_seq, 0), coalesce(o.written_receipt, '')
	FROM r CROSS JOIN LATERAL (SELECT version, written_at, written_seq, written_receipt FROM ` + table + `
		WHERE merchant_id = $1 AND ` + id + ` = r.key LIMIT 1) o`
}

// catalogUpsert runs the upsert q (upsertSQL) of rows, with extra the
// values of the extra column, and calls each for every row it returns.
func catalogUpsert(ctx context.Context, db database.DBTX, q, merchant string, rows CatalogRows, extra any, each func(CatalogUpserted) error) error {
	res, err := db.Query(ctx, q, merchant, rows.Keys, rows.Data, extra, rows.WrittenAt, rows.WrittenSeq, rows.WrittenReceipt)
	if err != nil {
		return err
	}
	byKey := make(map[string]*CatalogUpserted, len(rows.Keys))
	for _, k := range rows.Keys {
		byKey[k] = &CatalogUpserted{Key: k}
	}
	var (
		written, inserted bool
		key               string
		version           pgtype.Int8
		r                 CatalogUpserted
	)
	_, err = pgx.ForEachRow(res, []any{&written, &key, &version, &inserted, &r.WasAt, &r.WasSeq, &r.WasReceipt}, func() error {
		u := byKey[key]
		if u == nil {
			return fmt.Errorf("store: upsert returned the row %q it was not given", key)
		}
		if written {
			u.Version, u.Inserted = version, inserted
		} else {
			u.WasVersion, u.WasAt, u.WasSeq, u.WasReceipt = version, r.WasAt, r.WasSeq, r.WasReceipt
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range rows.Keys {
		if err := each(*byKey[k]); err != nil {
			return err
		}
	}
	return nil
}
