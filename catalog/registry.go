package catalog

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/internal/database"
)

// The registry (table known_keys) records which resources exist in a
// merchant's catalog, whoever created them: the importer marks what it
// writes in the same transaction, the resolver marks what other systems
// announce. A key somebody waits for has a row with exists = false.
//
// Parking and creation of the same key are serialised on its row: parking
// locks the rows of the keys it misses FOR SHARE (RegistryLockMissing) and
// re-reads them; creation upserts them (RegistryMarkExisting), which waits
// for those locks. So either the creation commits first and parking sees the
// key, or parking commits first and the creation sees the parked operation.

// RegistryExisting returns which of refs exist for the merchant.
func RegistryExisting(ctx context.Context, db database.DBTX, merchant string, refs []Reference) (map[Reference]bool, error) {
	out := make(map[Reference]bool, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	types, keys := splitRefs(refs)
	// One primary-key probe per reference (LATERAL … LIMIT 1), whatever the
	// statistics say.
	rows, err := db.Query(ctx, `SELECT k.type_id, k.key FROM unnest($2::text[], $3::text[]) AS r(type_id, key)
		CROSS JOIN LATERAL (SELECT type_id, key FROM known_keys
			WHERE merchant_id = $1 AND type_id = r.type_id AND key = r.key AND exists LIMIT 1) k`, database.Prepared, merchant, types, keys)
	if err != nil {
		return nil, fmt.Errorf("catalog: registry lookup: %w", err)
	}
	var typeID, key string
	_, err = pgx.ForEachRow(rows, []any{&typeID, &key}, func() error {
		out[refOf(typeID, key)] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: registry lookup: %w", err)
	}
	return out, nil
}

// RegistryLockMissing locks the registry rows of refs (creating absent ones
// with exists = false) until the end of the transaction and returns which
// exist after all: a creation that committed meanwhile is seen.
func RegistryLockMissing(ctx context.Context, tx pgx.Tx, merchant string, refs []Reference) (map[Reference]bool, error) {
	out := make(map[Reference]bool, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	types, keys := splitRefs(sortedRefs(refs))
	if _, err := tx.Exec(ctx, `INSERT INTO known_keys (merchant_id, type_id, key)
		SELECT $1, r.type_id, r.key FROM unnest($2::text[], $3::text[]) AS r(type_id, key)
		ON CONFLICT DO NOTHING`, merchant, types, keys); err != nil {
		return nil, fmt.Errorf("catalog: registry insert: %w", err)
	}
	// The references are sorted, so the rows are locked in one order.
	rows, err := tx.Query(ctx, `SELECT k.type_id, k.key, k.exists FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS r(type_id, key, n)
		CROSS JOIN LATERAL (SELECT type_id, key, exists FROM known_keys
			WHERE merchant_id = $1 AND type_id = r.type_id AND key = r.key LIMIT 1 FOR SHARE) k
		ORDER BY r.n`, merchant, types, keys)
	if err != nil {
		return nil, fmt.Errorf("catalog: registry lock: %w", err)
	}
	var typeID, key string
	var exists bool
	_, err = pgx.ForEachRow(rows, []any{&typeID, &key, &exists}, func() error {
		if exists {
			out[refOf(typeID, key)] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: registry lock: %w", err)
	}
	return out, nil
}

// RegistryMarkExisting records that refs exist for the merchant, in the
// caller's transaction, and returns those it did not know to exist before.
// source says who announced them ("importer", "event", "sweep").
func RegistryMarkExisting(ctx context.Context, db database.DBTX, merchant string, refs []Reference, source string) ([]Reference, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	types, keys := splitRefs(sortedRefs(refs))
	rows, err := db.Query(ctx, `INSERT INTO known_keys AS k (merchant_id, type_id, key, exists, created_at, source)
		SELECT $1, r.type_id, r.key, true, now(), $4 FROM unnest($2::text[], $3::text[]) AS r(type_id, key)
		ON CONFLICT (merchant_id, type_id, key) DO UPDATE SET exists = true, created_at = now(), source = excluded.source
		WHERE NOT k.exists
		RETURNING k.type_id, k.key`, merchant, types, keys, source)
	if err != nil {
		return nil, fmt.Errorf("catalog: registry mark: %w", err)
	}
	var fresh []Reference
	var typeID, key string
	_, err = pgx.ForEachRow(rows, []any{&typeID, &key}, func() error {
		fresh = append(fresh, refOf(typeID, key))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: registry mark: %w", err)
	}
	return fresh, nil
}

// refOf makes the reference of a registry row: product variants and
// inventory entries are identified by sku.
func refOf(typeID, key string) Reference {
	if typeID == ProductVariant.TypeID() || typeID == InventoryEntry.TypeID() {
		return Reference{TypeID: typeID, SKU: key}
	}
	return Reference{TypeID: typeID, Key: key}
}

// Normalize returns the reference in the form the registry uses (sku for
// variants and inventory, key for the rest), so references compare equal.
func (r Reference) Normalize() Reference { return refOf(r.TypeID, r.Identity()) }

func splitRefs(refs []Reference) (types, keys []string) {
	types, keys = make([]string, len(refs)), make([]string, len(refs))
	for i, r := range refs {
		types[i], keys[i] = r.TypeID, r.Identity()
	}
	return types, keys
}

// sortedRefs returns refs without duplicates in (typeId, identity) order:
// row locks taken in one order cannot deadlock.
func sortedRefs(refs []Reference) []Reference {
	seen := make(map[Reference]bool, len(refs))
	out := make([]Reference, 0, len(refs))
	for _, r := range refs {
		r = r.Normalize()
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].TypeID != out[j].TypeID {
			return out[i].TypeID < out[j].TypeID
		}
		return out[i].Identity() < out[j].Identity()
	})
	return out
}
