package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/importd/importd/audit"
)

// exitError ends the process with code, after printing message (when set)
// on stderr: the audit role's exit status says what it found.
type exitError struct {
	code    int
	message string
}

func (e *exitError) Error() string { return e.message }

const auditUsage = `usage: importd audit [--grace 30s] [--skip-catalog] RECEIPT|--all

Checks the invariants of deliveries, operations, tracking events and the
catalog in DATABASE_URL; prints one line per violation and a summary.
Exit status: 0 clean, 1 violations found, 2 usage or connection error.
`

// audit runs the audit role: importd audit RECEIPT|--all.
func (a *app) audit(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	all := fs.Bool("all", false, "audit every delivery within its retention")
	grace := fs.Duration("grace", 30*time.Second, "how long an operation may stay parked on references that all exist")
	skipCatalog := fs.Bool("skip-catalog", false, "leave out the catalog check (importer writing to another target)")
	if err := fs.Parse(args); err != nil {
		return &exitError{2, fmt.Sprintf("%v\n%s", err, auditUsage)}
	}
	receipt := ""
	rest := fs.Args()
	// Allow flags after the receipt too.
	if len(rest) > 0 {
		receipt = rest[0]
		if err := fs.Parse(rest[1:]); err != nil {
			return &exitError{2, fmt.Sprintf("%v\n%s", err, auditUsage)}
		}
		if fs.NArg() > 0 {
			return &exitError{2, auditUsage}
		}
	}
	if (receipt == "") == !*all || *grace < 0 {
		return &exitError{2, auditUsage}
	}
	if err := a.openDB(ctx); err != nil {
		return &exitError{2, err.Error()}
	}
	au, err := audit.New(a.pool, audit.Config{Grace: *grace, SkipCatalog: *skipCatalog}, a.logger)
	if err != nil {
		return &exitError{2, err.Error()}
	}
	report := func(v audit.Violation) { fmt.Fprintln(stdout, v) }
	var sum audit.Summary
	if *all {
		sum, err = au.All(ctx, report)
	} else {
		sum, err = au.Delivery(ctx, receipt, report)
	}
	if err != nil {
		fmt.Fprintln(stdout, sum)
		return &exitError{2, err.Error()}
	}
	fmt.Fprintln(stdout, sum)
	if sum.Violations > 0 {
		return &exitError{code: 1}
	}
	return nil
}

// exitCode maps an error of run to the process's exit status, printing its
// message; ok is false for errors that are not an exitError.
func exitCode(err error) (int, bool) {
	var ee *exitError
	if !errors.As(err, &ee) {
		return 0, false
	}
	if ee.message != "" {
		fmt.Fprintln(os.Stderr, "importd audit:", ee.message)
	}
	return ee.code, true
}
