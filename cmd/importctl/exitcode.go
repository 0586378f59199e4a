package main

import (
	"context"
	"errors"
	"flag"

	"github.com/importd/importd/tracking"
)

// Exit codes scripts can rely on (listed in the usage text and in
// docs/importctl.md). 4, 5 and 6 were 2 until they got codes of their own.
const (
	exitOK           = 0   // done, or nothing wrong yet
	exitFailed       = 1   // CompletedWithErrors, IngestionFailure, interrupted, 409, 410
	exitUsage        = 2   // usage error, or any error without a code of its own
	exitTimeout      = 3   // --timeout elapsed before the delivery ended
	exitNotFound     = 4   // no such delivery, operation or record (404)
	exitUnauthorized = 5   // the token (401) or the NATS credentials refused
	exitUnreachable  = 6   // no answer from the query service or NATS
	exitInterrupted  = 130 // Ctrl-C (128 + SIGINT, as shells report it)
)

var (
	// errTimeout means the watch's --timeout elapsed first.
	errTimeout = errors.New("timed out before the delivery ended")
	// errInterrupted means the user interrupted the command.
	errInterrupted = errors.New("interrupted")
)

// exitCodeOf maps the error a command failed with to the exit code.
func exitCodeOf(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, ErrConflict), errors.Is(err, ErrGone):
		// The service refused an action in the current state, or no longer
		// has what was asked: the request was understood and answered, the
		// answer was no.
		return exitFailed
	case errors.Is(err, errTimeout):
		return exitTimeout
	case errors.Is(err, errInterrupted), errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, ErrNotFound):
		return exitNotFound
	case errors.Is(err, ErrUnauthorized):
		return exitUnauthorized
	case errors.Is(err, ErrUnreachable):
		return exitUnreachable
	default:
		// Usage errors, other answers of the service (400, 5xx), a NATS
		// server without importd's streams, and anything else that kept
		// the command from doing its job.
		return exitUsage
	}
}

// statusExitCode maps a delivery's status code to the exit code of status
// and of a finished watch: 1 for a delivery that failed in part or as a
// whole, 0 otherwise (including one still in progress). An interrupted
// delivery is 1 as well, which only its job view tells (jobExitCode).
func statusExitCode(code int) int {
	switch code {
	case tracking.StatusCompletedWithErrors.Code, tracking.StatusIngestionFailure.Code:
		return exitFailed
	default:
		return exitOK
	}
}

// finished reports whether a delivery with this status code has ended: no
// later status will differ.
func finished(code int) bool {
	switch code {
	case tracking.StatusNoContent.Code, tracking.StatusIngestionFailure.Code,
		tracking.StatusCompletedSuccessfully.Code, tracking.StatusCompletedWithErrors.Code:
		return true
	default:
		return false
	}
}

// jobExitCode is statusExitCode, made 1 by a job view (when there is one)
// saying the delivery was interrupted.
func jobExitCode(statusCode int, job *Job) int {
	if job != nil && job.Status == jobInterrupted {
		return exitFailed
	}
	return statusExitCode(statusCode)
}

// exitMeaning says in words what the exit code of a finished delivery
// (jobExitCode) means.
func exitMeaning(statusCode int, job *Job) string {
	switch {
	case job != nil && job.Status == jobInterrupted:
		return "interrupted"
	case statusCode == tracking.StatusIngestionFailure.Code:
		return "could not be ingested"
	case statusCode == tracking.StatusCompletedWithErrors.Code:
		return "completed with errors"
	case statusCode == tracking.StatusNoContent.Code:
		return "no record"
	default:
		return "completed successfully"
	}
}
