package catalog

import (
	"context"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/importd/importd/internal/database"
	"github.com/importd/importd/internal/store"
)

// Which resources exist is the registry's and the catalog's to say. The
// registry (table known_keys, internal/store) records the resources other
// systems announce (the resolver marks them), and the keys somebody waits
// for, with exists = false; the catalog holds what the importer wrote, in
// the transaction that recorded the operation, and the importer marks
// nothing in the registry.
//
// Parking and an announcement of the same key are serialised on its
// registry row: parking locks the rows of the keys it misses FOR SHARE
// (RegistryLockMissing) and looks again; an announcement upserts them
// (RegistryMarkExisting), which waits for those locks. Parking and the
// importer's creation are not: a creation that commits after the parking
// looked and before it committed publishes its event, which may be handled
// before the parked operation is visible. So the resolver looks at the keys
// it parked on once more after the parking committed (the sweep, every few
// seconds, is the net under that too): a creation that committed before
// that look is seen by it, one after it is announced by an event handled
// after the parking committed.

// RegistryExisting returns which of refs exist for the merchant.
func RegistryExisting(ctx context.Context, db database.DBTX, merchant string, refs []Reference) (map[Reference]bool, error) {
	out := make(map[Reference]bool, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	types, keys := splitRefs(refs)
	rows, err := store.KnownKeysExisting(ctx, db, merchant, types, keys)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[refOf(r.TypeID, r.Key)] = true
	}
	return out, nil
}

// RegistryLockMissing locks the registry rows of refs (creating absent ones
// with exists = false) until the end of the transaction and returns which
// exist after all: an announcement or a creation that committed meanwhile
// is seen.
func RegistryLockMissing(ctx context.Context, tx pgx.Tx, merchant string, refs []Reference) (map[Reference]bool, error) {
	out := make(map[Reference]bool, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	sorted := sortedRefs(refs)
	types, keys := splitRefs(sorted)
	rows, err := store.KnownKeysLockMissing(ctx, tx, merchant, types, keys)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[refOf(r.TypeID, r.Key)] = true
	}
	var rest []Reference
	for _, r := range sorted {
		if !out[r] {
			rest = append(rest, r)
		}
	}
	// The catalog, read after the locks were taken.
	created, err := RegistryExisting(ctx, tx, merchant, rest)
	if err != nil {
		return nil, err
	}
	for r := range created {
		out[r] = true
	}
	return out, nil
}

// RegistryMarkExisting records that refs exist for the merchant, in the
// caller's transaction, and returns those it did not know to exist before.
// source says who announced them ("importer" for a target that writes
// elsewhere than the catalog, "event", "sweep").
func RegistryMarkExisting(ctx context.Context, db database.DBTX, merchant string, refs []Reference, source string) ([]Reference, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	types, keys := splitRefs(sortedRefs(refs))
	rows, err := store.KnownKeysMarkExisting(ctx, db, merchant, types, keys, source)
	if err != nil {
		return nil, err
	}
	fresh := make([]Reference, len(rows))
	for i, r := range rows {
		fresh[i] = refOf(r.TypeID, r.Key)
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
