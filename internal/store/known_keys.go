package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/internal/database"
)

// The registry (table known_keys) records the resources other systems
// announced, and the keys somebody waits for (exists = false). Which
// resources exist is the view resource_keys (migration 00019): the
// registry's and the catalog's. Parking locks the registry rows of the
// keys it misses FOR SHARE (KnownKeysLockMissing) and looks again; an
// announcement upserts them (KnownKeysMarkExisting), which waits for those
// locks. The importer's writes take no registry row: the resolver looks at
// the catalog again once its parking committed (see catalog/registry.go).

// TypeKey names a resource by its typeId and key (a sku for variants and
// inventory).
type TypeKey struct {
	TypeID string
	Key    string
}

func collectTypeKeys(rows pgx.Rows) ([]TypeKey, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (TypeKey, error) {
		var r TypeKey
		err := row.Scan(&r.TypeID, &r.Key)
		return r, err
	})
}

// KnownKeysExisting returns which of the resources (typeIDs[i], keys[i])
// exist for the merchant: in the registry or in the catalog.
func KnownKeysExisting(ctx context.Context, db database.DBTX, merchant string, typeIDs, keys []string) ([]TypeKey, error) {
	// One primary-key probe per reference and table (LATERAL … LIMIT 1),
	// whatever the statistics say: the view's branches of other types are
	// skipped by their one-time filter. A join would not pass the keys into
	// the view's branches and would read every row of the merchant.
	rows, err := db.Query(ctx, `SELECT k.type_id, k.key FROM unnest($2::text[], $3::text[]) AS r(type_id, key)
		CROSS JOIN LATERAL (SELECT type_id, key FROM resource_keys
			WHERE merchant_id = $1 AND type_id = r.type_id AND key = r.key LIMIT 1) k`, database.Prepared, merchant, typeIDs, keys)
	if err != nil {
		return nil, fmt.Errorf("store: registry lookup: %w", err)
	}
	out, err := collectTypeKeys(rows)
	if err != nil {
		return nil, fmt.Errorf("store: registry lookup: %w", err)
	}
	return out, nil
}

// KnownKeysLockMissing locks the registry rows of the resources (creating
// absent ones with exists = false) until the end of the transaction and
// returns which the registry says exist after all: an announcement that
// committed meanwhile is seen. The resources come sorted by (typeId, key),
// so rows are locked in one order.
func KnownKeysLockMissing(ctx context.Context, db database.DBTX, merchant string, typeIDs, keys []string) ([]TypeKey, error) {
	if _, err := db.Exec(ctx, `INSERT INTO known_keys (merchant_id, type_id, key)
		SELECT $1, r.type_id, r.key FROM unnest($2::text[], $3::text[]) AS r(type_id, key)
		ON CONFLICT DO NOTHING`, merchant, typeIDs, keys); err != nil {
		return nil, fmt.Errorf("store: registry insert: %w", err)
	}
	// Every row is locked, existing or not: the filter is applied here.
	rows, err := db.Query(ctx, `SELECT k.type_id, k.key, k.exists FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS r(type_id, key, n)
		CROSS JOIN LATERAL (SELECT type_id, key, exists FROM known_keys
			WHERE merchant_id = $1 AND type_id = r.type_id AND key = r.key LIMIT 1 FOR SHARE) k
		ORDER BY r.n`, merchant, typeIDs, keys)
	if err != nil {
		return nil, fmt.Errorf("store: registry lock: %w", err)
	}
	var out []TypeKey
	var r TypeKey
	var exists bool
	_, err = pgx.ForEachRow(rows, []any{&r.TypeID, &r.Key, &exists}, func() error {
		if exists {
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: registry lock: %w", err)
	}
	return out, nil
}

// KnownKeysMarkExisting records that the resources exist for the merchant
// and returns those it did not know to exist before. source says who
// announced them ("importer", "event", "sweep"). The resources come sorted
// by (typeId, key).
func KnownKeysMarkExisting(ctx context.Context, db database.DBTX, merchant string, typeIDs, keys []string, source string) ([]TypeKey, error) {
	rows, err := db.Query(ctx, `INSERT INTO known_keys AS k (merchant_id, type_id, key, exists, created_at, source)
		SELECT $1, r.type_id, r.key, true, now(), $4 FROM unnest($2::text[], $3::text[]) AS r(type_id, key)
		ON CONFLICT (merchant_id, type_id, key) DO UPDATE SET exists = true, created_at = now(), source = excluded.source
		WHERE NOT k.exists
		RETURNING k.type_id, k.key`, merchant, typeIDs, keys, source)
	if err != nil {
		return nil, fmt.Errorf("store: registry mark: %w", err)
	}
	out, err := collectTypeKeys(rows)
	if err != nil {
		return nil, fmt.Errorf("store: registry mark: %w", err)
	}
	return out, nil
}

// KnownKeysLockPairing locks the registry rows of type pseudoType (the
// master-variant pseudo reference) of the products, creating the absent
// ones: a product that starts waiting for its master variant and that
// variant arriving at the same moment take the same row lock, so the
// second sees the first.
func KnownKeysLockPairing(ctx context.Context, db database.DBTX, merchant, pseudoType string, productKeys []string) error {
	if len(productKeys) == 0 {
		return nil
	}
	keys := slices.Clone(productKeys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	// The absent rows first (an insert holds the row it inserts; a second
	// inserter waits for it here, before it holds any other), then every
	// row exclusively, one probe per key in byte order (see variantsLock in
	// catalog for why not "key = ANY(…) ORDER BY key"). Not FOR SHARE first:
	// two sharers of a row then each wait for the other's FOR UPDATE.
	if _, err := db.Exec(ctx, `INSERT INTO known_keys (merchant_id, type_id, key)
		SELECT $1, $2, k FROM unnest($3::text[]) AS k
		ON CONFLICT DO NOTHING`, merchant, pseudoType, keys); err != nil {
		return fmt.Errorf("store: pairing rows: %w", err)
	}
	if _, err := db.Exec(ctx, `SELECT k.key FROM unnest($3::text[]) WITH ORDINALITY AS s(key, n)
		CROSS JOIN LATERAL (SELECT key FROM known_keys WHERE merchant_id = $1 AND type_id = $2 AND key = s.key LIMIT 1 FOR UPDATE) k
		ORDER BY s.n`, merchant, pseudoType, keys); err != nil {
		return fmt.Errorf("store: pairing rows: %w", err)
	}
	return nil
}
