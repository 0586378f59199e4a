package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
)

// errorsCmd runs `importctl errors RECEIPT [--csv | --json]`: what went
// wrong with a delivery. By default the errors grouped by code, with
// examples, and the missing references with how many operations wait on
// each (from GET /v1/imports/{receipt}); with --csv every error of every
// operation, GET /v1/imports/{receipt}/errors.csv copied to stdout as it
// arrives.
func (c *cli) errorsCmd(ctx context.Context, g globals, args []string) (int, error) {
	fs := newFlagSet("errors", "importctl errors RECEIPT [--csv | --json]", c.stderr)
	g.register(fs.FlagSet)
	csv := fs.Bool("csv", false, "print every error as CSV (GET /v1/imports/{receipt}/errors.csv)")
	raw := fs.Bool("json", false, "print the raw JSON job object of GET /v1/imports/{receipt}")
	client, receipt, err := receiptClient(fs, &g, args)
	if err != nil {
		return exitUsage, err
	}
	if *csv && *raw {
		return exitUsage, usagef("errors: --csv and --json exclude each other")
	}
	if *csv {
		if err := client.ErrorsCSV(ctx, receipt, c.stdout); err != nil {
			return exitUsage, err
		}
		return exitOK, nil
	}
	body, job, err := client.Job(ctx, receipt)
	if err != nil {
		return exitUsage, err
	}
	if *raw {
		return writeRaw(c.stdout, body)
	}
	printErrors(c.stdout, job)
	return exitOK, nil
}

// printErrors writes the errors of a job grouped by code, every example
// the service gave, and its missing references.
func printErrors(w io.Writer, j Job) {
	fmt.Fprintf(w, "Delivery %s: %s (%s), %d failed of %d received\n",
		j.ReceiptID, j.Status, j.DeliveryStatus, j.ItemsFailed, j.ItemsReceived)
	if len(j.IngestionErrors) > 0 {
		fmt.Fprintln(w, "\nIngestion errors:")
		for _, e := range j.IngestionErrors {
			fmt.Fprintf(w, "  %s: %s\n", e.Code, oneLine(e.Description))
		}
	}
	if len(j.Errors) == 0 {
		fmt.Fprintln(w, "\nNo errors.")
	} else {
		fmt.Fprintln(w, "\nErrors by code:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  COUNT\tCODE\tTYPE\tEXAMPLES")
		for _, e := range j.Errors {
			first := "-"
			if len(e.Examples) > 0 {
				first = example(e.Examples[0])
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", e.Count, e.Code, e.Type, first)
			for _, x := range e.Examples[min(1, len(e.Examples)):] {
				fmt.Fprintf(tw, "  \t\t\t%s\n", example(x))
			}
		}
		tw.Flush()
	}
	if len(j.MissingReferences) > 0 {
		fmt.Fprintln(w, "\nMissing references (operations waiting):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  WAITING\tTYPE\tKEY")
		for _, m := range j.MissingReferences {
			fmt.Fprintf(tw, "  %d\t%s\t%s\n", m.Operations, m.TypeID, m.Key)
		}
		tw.Flush()
	}
}

// printTopErrors writes the n most frequent error codes of a job, with one
// example each, and its most awaited missing references: the end of the
// result of a watch.
func printTopErrors(w io.Writer, receipt string, j *Job, n int) {
	if len(j.Errors) > 0 {
		fmt.Fprintf(w, "Errors:       %d failed operations\n", j.ErrorsCount)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, e := range j.Errors[:min(n, len(j.Errors))] {
			if len(e.Examples) == 0 {
				fmt.Fprintf(tw, "  %d\t%s\n", e.Count, e.Code)
				continue
			}
			fmt.Fprintf(tw, "  %d\t%s\te.g. %s\n", e.Count, e.Code, truncate(example(e.Examples[0]), 80))
		}
		tw.Flush()
		if more := len(j.Errors) - n; more > 0 {
			fmt.Fprintf(w, "  … and %d more %s\n", more, plural(int64(more), "code", "codes"))
		}
	}
	if len(j.MissingReferences) > 0 {
		fmt.Fprintln(w, "Waiting for:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, m := range j.MissingReferences[:min(n, len(j.MissingReferences))] {
			fmt.Fprintf(tw, "  %d\t%s %s\n", m.Operations, m.TypeID, m.Key)
		}
		tw.Flush()
	}
	if len(j.Errors) > 0 || len(j.MissingReferences) > 0 {
		fmt.Fprintf(w, "Details:      importctl errors %s [--csv]\n", receipt)
	}
}

// example renders an example of an error: the record's key, the field and
// the description.
func example(x ErrorExample) string {
	s := x.ResourceKey
	if s == "" {
		s = x.OperationID
	}
	if x.Field != "" {
		s += " " + x.Field
	}
	return s + ": " + oneLine(x.Description)
}

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// inputs runs `importctl inputs RECEIPT [-o FILE] [--decompress]`: the
// delivery's body as importd received it, to stdout or FILE.
func (c *cli) inputs(ctx context.Context, g globals, args []string) (int, error) {
	fs := newFlagSet("inputs", "importctl inputs RECEIPT [-o FILE] [--decompress]", c.stderr)
	g.register(fs.FlagSet)
	out := fs.String("o", "", "write the body to FILE instead of stdout")
	decompress := fs.Bool("decompress", false, "decompress a body that came gzipped")
	client, receipt, err := receiptClient(fs, &g, args)
	if err != nil {
		return exitUsage, err
	}
	w, f := c.stdout, (*os.File)(nil)
	if *out != "" {
		if f, err = os.Create(*out); err != nil {
			return exitUsage, fmt.Errorf("inputs: %w", err)
		}
		w = f
	}
	_, err = client.Inputs(ctx, receipt, w, *decompress)
	if f != nil {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("inputs: %w", cerr)
		}
		if err != nil {
			os.Remove(*out) // no partial or empty file named as the body
		}
	}
	if err != nil {
		return exitUsage, err
	}
	return exitOK, nil
}
