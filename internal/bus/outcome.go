package bus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Outcome is what a handler decided about a message: acknowledge it,
// redeliver it later, or reject it for good. A Consumer maps it to
// JetStream in one place (settle); the zero Outcome is Ack.
type Outcome struct {
	kind   outcomeKind
	delay  time.Duration // Retry
	reason string        // Reject
	err    error         // Backoff: why, for the log
	fields []zap.Field   // Backoff: about what, for the log
	then   func(context.Context)
}

type outcomeKind int

const (
	kindAck outcomeKind = iota
	kindRetry
	kindBackoff
	kindReject
)

func (k outcomeKind) String() string {
	return [...]string{"ack", "retry", "backoff", "reject"}[k]
}

// Ack acknowledges the message: handled, never delivered again.
var Ack = Outcome{kind: kindAck}

// AckThen acknowledges the message, waiting for the server to confirm it,
// and then calls then with a context that outlives shutdown briefly: for
// clean-up that must not happen unless the message is gone for good.
func AckThen(then func(ctx context.Context)) Outcome {
	return Outcome{kind: kindAck, then: then}
}

// Retry has the message delivered again after delay.
func Retry(after time.Duration) Outcome {
	return Outcome{kind: kindRetry, delay: after}
}

// Backoff has the message delivered again after the consumer's backoff for
// its delivery count (BackoffDelay), and logs err, the reason, with fields.
func Backoff(err error, fields ...zap.Field) Outcome {
	return Outcome{kind: kindBackoff, err: err, fields: fields}
}

// Reject terminates the message: it is never delivered again. reason goes
// with the termination to the server's advisory.
func Reject(reason string) Outcome {
	return Outcome{kind: kindReject, reason: reason}
}

// ackTimeout bounds the wait for the server to confirm an ack.
const ackTimeout = 10 * time.Second

// BackoffDelay is the delay Backoff gives a message delivered attempt times:
// RetryDelay within BackoffInitial and BackoffMax.
func (c *Consumer) BackoffDelay(attempt int) time.Duration {
	return RetryDelay(attempt, c.cfg.BackoffInitial, c.cfg.BackoffMax)
}

// settle maps o to JetStream: the one place where the workers' messages are
// acknowledged, delivered again or terminated. A failed ack is logged, not
// returned: the message comes back and its handler sees it again, which
// every handler absorbs (work is idempotent, a delivery resumes from its
// checkpoint).
func (c *Consumer) settle(ctx context.Context, msg jetstream.Msg, o Outcome) {
	// Acks must reach the server even while shutting down.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
	defer cancel()
	var err error
	switch o.kind {
	case kindAck:
		if c.cfg.ConfirmAcks || o.then != nil {
			err = msg.DoubleAck(actx)
		} else {
			err = msg.Ack()
		}
		if err == nil && o.then != nil {
			o.then(actx)
		}
	case kindRetry:
		err = msg.NakWithDelay(o.delay)
	case kindBackoff:
		attempt := Delivered(msg)
		delay := c.BackoffDelay(attempt)
		c.logger.Warn("message will be delivered again", append(o.fields, zap.String("subject", msg.Subject()),
			zap.Int("attempt", attempt), zap.Duration("delay", delay), zap.Error(o.err))...)
		err = msg.NakWithDelay(delay)
	case kindReject:
		if o.reason != "" {
			err = msg.TermWithReason(o.reason)
		} else {
			err = msg.Term()
		}
	}
	if err != nil {
		c.logger.Warn("acknowledgement failed; the message will be delivered again", zap.String("subject", msg.Subject()),
			zap.Stringer("outcome", o.kind), zap.Error(err))
	}
}
