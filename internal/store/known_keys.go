package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/importd/importd/internal/database"
)

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
