// Package store is importd's PostgreSQL storage layer: it opens the
// workers' transactions (InTx) and, table by table, owns the statements
// that read and write them, as functions named table-then-verb
// (ParkedRefsInsert, ApplyOutboxDelete) on a database.DBTX. It speaks in
// rows and plain values, not in the pipeline's types, so every package can
// use it and it depends on none of them.
//
// The tables it owns so far: parked_refs, apply_outbox, event_outbox and
// known_keys (the registry). The other tables' statements still live with
// their packages (tracking, catalog's store, audit) and move here in later
// steps; the resolver and the importer hold no SQL.
package store
