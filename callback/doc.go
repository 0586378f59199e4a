// Package callback holds the rules of delivery callbacks that receivers and
// importd share: which hosts a callback URL may name (Hosts, from
// IMPORTD_CALLBACK_HOSTS) and the signature of a call's body (Sign,
// Verify), an HMAC-SHA256 with the shared secret IMPORTD_CALLBACK_SECRET.
// It depends on the standard library only, so that a receiver written in
// Go can import it to check the calls it gets. importd's sender is package
// callback/sender; docs/callbacks.md describes the protocol.
package callback
