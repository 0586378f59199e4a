// Package api is the query service's HTTP API: the CDON-style endpoints
// (/import/{receipt}/status, /summary, /{productId}) and /v1 (job objects,
// operations, errors.csv, cancel, retry, submit), with their authorization
// by token, their bounds on streams and bodies, and their metrics. It
// changes deliveries through tracking.Store and builds its views (job
// objects, operations, summaries, histories, the wire types of the
// endpoints) from internal/store's rows; tracking keeps the state model and
// the /status body its events carry too.
//
// A merchant's token sees only that merchant's deliveries; an operator's
// (tracking.Operator) sees every merchant's. docs/contract.md ("HTTP")
// describes every endpoint, and so does the OpenAPI 3.1 document the
// service serves at /openapi.json (openapi.json, embedded; docs/api.md).
// Errors of /v1 are RFC 9457 problem details; the CDON endpoints keep their
// {"error": "…"} bodies.
package api
