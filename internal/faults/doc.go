// Package faults holds the fault-injection suite of importd (issue 7): tests
// that run every role as a real importd process against real NATS and
// PostgreSQL servers, kill and restart processes and servers, lose work
// messages, duplicate deliveries and events, and end each run with the
// audit.
//
// The package has no code of its own; everything is in its tests:
//
//	go test ./internal/faults -count=1                        # default sizes (part of go test ./...)
//	go test ./internal/faults -count=1 -v -timeout 60m \
//	    -faults.records 200000 -faults.kills 4                  # the full run (make faults)
//
// Each test logs how many faults it injected and how many operations the
// audit checked; TestMain prints one summary line per test and a total, and
// appends them to the file named by FAULTS_SUMMARY when it is set.
//
// The tests run one after another, not in parallel: each drives several
// processes and a PostgreSQL server hard, and one at a time keeps a run's
// timing (and its fault schedule) meaningful on a small machine.
package faults
