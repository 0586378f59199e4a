// Package tracking owns the state of deliveries and operations and their
// tracking events: the store every worker writes through and the status
// rules of docs/contract.md ("States and statuses"). The query service's
// HTTP API, package api, answers from it.
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
