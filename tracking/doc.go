// Package tracking owns the state of deliveries and operations and their
// tracking events: the PostgreSQL store every worker writes through, the
// status rules and the query HTTP API of docs/contract.md ("States and
// statuses", "HTTP").
//
// Every state change is written in one transaction with the tracking event
// that records it, so that history and state never disagree. Writes are
// batched: a worker hands the store a whole batch of operations and events,
// which it writes with COPY or array parameters in one transaction. The
// statements themselves are internal/store's; the Store turns their rows
// into this package's types.
//
// The package knows no worker; workers know it.
package tracking
