// Package e2e holds the end-to-end tests: every role against a real
// PostgreSQL and an embedded NATS server. It has no code of its own.
package e2e
