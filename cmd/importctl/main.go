// Command importctl is the command-line client of the import pipeline: it
// publishes a delivery to NATS JetStream and reads its status,
// its errors and the history of its records from the query service, and
// cancels or retries it.
//
//	importctl submit FILE --merchant M [--watch]
//	importctl status RECEIPT
//	importctl watch RECEIPT
//	importctl operations RECEIPT [--state S]
//	importctl operation ID
//	importctl summary | imports | product | errors | cancel | retry | version …
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/importd/importd/internal/buildinfo"
)

const usage = `usage: importctl [global flags] COMMAND [flags] [args]

Commands:
  submit FILE --merchant M   publish FILE ("-" for stdin) as one delivery and
                             print its receipt id on stdout
      --data TYPE            resource type of every record (default Product)
      --format F             ndjson, json or csv (default: from the file name
                             .ndjson/.jsonl/.json/.csv[.gz], else ndjson)
      --receipt ID           receipt id (default: 32 random hex digits);
                             publishing the same receipt again is a no-op
                             (ingest ignores the copy)
      --foreign-key K        the upstream's own reference for the delivery
      --skip-errors          never interrupt the delivery on errors
      --gzip                 compress the body (a gzipped FILE is sent as is)
      --watch                then show a progress bar (records done/total,
                             rate, ETA) until the delivery ends, and the
                             result: status, counts, top error codes
      --timeout D            with --watch: give up after D (default 0: never)
  status RECEIPT             print a delivery's status (and its job status,
                             e.g. interrupted, when the service has /v1)
  watch RECEIPT              show a delivery's progress until it ends
      --timeout D            give up after D (default 0: never)
      --grace D              give up when the receipt is still unknown
                             after D (default 10s; 0: wait for ever)
  summary                    deliveries and operations per state, per merchant
      --status S             only deliveries in job status S: pending,
                             in_progress, interrupted or completed
      --merchant M           only merchant M (operator tokens)
  imports                    the deliveries, newest first
      --status S             only deliveries in job status S
      --reference REF        only deliveries with this foreign key
      --limit N              deliveries per page, 1 to 1000 (default 50)
      --cursor C             start at a page's nextCursor
      --all                  follow nextCursor to the last page
  operations RECEIPT         the operations of a delivery, in delivery order
      --state S              only operations in state S (processing,
                             unresolved, waitForMasterVariant, imported,
                             partiallyImported, validationFailed, rejected,
                             canceled)
      --resource-type T      only records of resource type T
      --resource-key K       only records with key (or sku) K
      --limit N              operations per page, 1 to 1000 (default 50)
      --cursor C             start at a page's nextCursor
      --all                  follow nextCursor to the last page
  operation ID               one operation, and the tracking history of its
                             record
  product RECEIPT ID         the history of one record, oldest first
  errors RECEIPT             a delivery's errors by code, with examples, and
                             the missing references it waits for
      --csv                  every error of every operation as CSV, as the
                             service streams it
  inputs RECEIPT             the delivery's body as importd received it, for
                             its retention (gzip kept as it came)
      -o FILE                write it to FILE instead of stdout
      --decompress           decompress a body that came gzipped
  cancel RECEIPT             interrupt a delivery; print its job status
  retry RECEIPT              send the delivery's rejected operations back
      --operation ID         only this operation of the delivery
  version                    what importctl was built from
  help                       this text

status, summary, imports, operations, operation, product, errors, cancel and
retry take --json: print the service's JSON body instead (imports --all --json
and operations --all --json: every item in one body; operation --json:
{"operation": …, "history": […]}). status, watch, operations, product,
errors, cancel and retry take --merchant M: the receipt's merchant, which an
operator's token names for a receipt several merchants used (the service
answers 409 naming them).

Global flags (before or after the command):
  --api URL      query service (default $IMPORTD_API or http://localhost:8080)
  --token T      bearer token for the query service (default $IMPORTD_TOKEN)
  --nats URL     NATS server(s) (default $NATS_URL or nats://127.0.0.1:4222)

NATS credentials come from the environment, as for importd: NATS_CREDS (a
credentials file) or NATS_NKEY (a file holding an nkey seed), NATS_TLS_CA,
NATS_TLS_CERT and NATS_TLS_KEY.

Bodies over 512 KiB are stored in the object store IMPORT_PAYLOADS under the
merchant, the receipt id and a random suffix; smaller ones travel in the message. The receipt id is the only
thing printed on stdout by submit; everything else goes to stderr.

Exit codes:
  0    the command did its job: submitted (without --watch); the delivery
       completed successfully or had no record; for status: also still
       Receiving, Queued or Processing; the answer printed (summary,
       imports, operations, operation, product, errors, version); canceled;
       retried
  1    the delivery completed with errors, could not be ingested
       (CompletedWithErrors, IngestionFailure) or was interrupted; or the
       service refused the action in the current state (409: cancel of a
       completed delivery, retry with nothing rejected), or no longer has
       what was asked (410: inputs importd did not keep)
  2    usage error (nothing was sent), or any error without a code below:
       another answer of the service (400, 5xx), NATS without importd's
       streams
  3    --timeout elapsed before the delivery ended
  4    not found: no such delivery, record or operation (404), or watch's
       receipt still unknown after --grace
  5    unauthorized: the query service refused the token (401), or NATS
       the credentials
  6    unreachable: no answer from the query service or from NATS
  130  interrupted (Ctrl-C)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	c := &cli{
		stdin:        os.Stdin,
		stdout:       os.Stdout,
		stderr:       os.Stderr,
		getenv:       os.Getenv,
		pollInterval: 500 * time.Millisecond,
	}
	code := c.run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// cli is one invocation of importctl with its streams and environment, so
// that tests can run it in-process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// pollInterval is how often watch asks for the status.
	pollInterval time.Duration
}

// run parses args, runs the command and returns the process's exit code.
func (c *cli) run(ctx context.Context, args []string) int {
	g := defaultGlobals(c.getenv)
	cmd, rest, err := parseGlobals(&g, args, c.stderr)
	if err != nil {
		return c.fail(err)
	}
	var code int
	switch cmd {
	case "", "help":
		if cmd == "" {
			fmt.Fprint(c.stderr, usage)
			return exitUsage
		}
		fmt.Fprint(c.stdout, usage)
		return exitOK
	case "submit":
		code, err = c.submit(ctx, g, rest)
	case "status":
		code, err = c.status(ctx, g, rest)
	case "watch":
		code, err = c.watch(ctx, g, rest)
	case "summary":
		code, err = c.summary(ctx, g, rest)
	case "imports":
		code, err = c.imports(ctx, g, rest)
	case "product":
		code, err = c.product(ctx, g, rest)
	case "errors":
		code, err = c.errorsCmd(ctx, g, rest)
	case "inputs":
		code, err = c.inputs(ctx, g, rest)
	case "cancel":
		code, err = c.cancel(ctx, g, rest)
	case "retry":
		code, err = c.retry(ctx, g, rest)
	case "operations":
		code, err = c.operations(ctx, g, rest)
	case "operation":
		code, err = c.operation(ctx, g, rest)
	case "version":
		code, err = c.version(rest)
	default:
		err = usagef("unknown command %q", cmd)
	}
	if err != nil {
		return c.fail(err)
	}
	return code
}

// version runs `importctl version`: what the binary was built from.
func (c *cli) version(args []string) (int, error) {
	if len(args) != 0 {
		return exitUsage, usagef("version: want no argument, got %q", args)
	}
	bi, ok := debug.ReadBuildInfo()
	buildinfo.Print(c.stdout, "importctl", bi, ok)
	return exitOK, nil
}

// fail reports err on stderr and returns its exit code.
func (c *cli) fail(err error) int {
	code := exitCodeOf(err)
	if code == exitOK { // -h: the flag package printed the usage already
		return code
	}
	fmt.Fprintln(c.stderr, "importctl:", err)
	if isUsage(err) {
		fmt.Fprintln(c.stderr, "run 'importctl help' for usage")
	}
	return code
}
