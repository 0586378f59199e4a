package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/importd/importd/internal/bus"
)

// Defaults of the global flags when their environment variable is unset.
const (
	defaultAPI  = "http://localhost:8080"
	defaultNATS = "nats://127.0.0.1:4222"
)

// globals are the flags every command takes, before or after its name.
type globals struct {
	api   string // query service base URL
	token string // bearer token for the query service
	nats  string // NATS server URL(s)
	auth  bus.Auth
}

// defaultGlobals returns the globals from the environment (IMPORTD_API,
// IMPORTD_TOKEN, NATS_URL and the NATS credentials of bus.AuthFromEnv),
// falling back to the local defaults.
func defaultGlobals(getenv func(string) string) globals {
	or := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	return globals{
		api:   or("IMPORTD_API", defaultAPI),
		token: getenv("IMPORTD_TOKEN"),
		nats:  or("NATS_URL", defaultNATS),
		auth:  bus.AuthFromEnv(getenv),
	}
}

// register adds the global flags to fs, with g's current values as defaults,
// so that a command's flag set accepts them after the command's name too.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.api, "api", g.api, "query service base `URL` (env IMPORTD_API)")
	// Func, not StringVar: a token from the environment must not show in -h.
	fs.Func("token", "bearer `token` for the query service (default: env IMPORTD_TOKEN)", func(s string) error {
		g.token = s
		return nil
	})
	fs.StringVar(&g.nats, "nats", g.nats, "NATS server `URL`s (env NATS_URL)")
}

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef returns a usageError.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// isUsage reports whether err is a mistake on the command line.
func isUsage(err error) bool {
	var ue *usageError
	return errors.As(err, &ue)
}

// flagSet is a command's flags: errors come back as usage errors instead of
// being printed, and -h prints the command's synopsis and flags.
type flagSet struct {
	*flag.FlagSet
	synopsis string
	stderr   io.Writer
}

// newFlagSet returns an empty flag set for the command name.
func newFlagSet(name, synopsis string, stderr io.Writer) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, synopsis: synopsis, stderr: stderr}
}

// printUsage prints the command's synopsis and flags on stderr.
func (f *flagSet) printUsage() {
	fmt.Fprintf(f.stderr, "usage: %s\n\nFlags:\n", f.synopsis)
	f.SetOutput(f.stderr)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
}

// parseGlobals parses the global flags before the command and returns the
// command's name ("" when there is none) and its arguments.
func parseGlobals(g *globals, args []string, stderr io.Writer) (string, []string, error) {
	fs := flag.NewFlagSet("importctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, usage)
			return "", nil, err
		}
		return "", nil, usagef("%v", err)
	}
	if fs.NArg() == 0 {
		return "", nil, nil
	}
	return fs.Arg(0), fs.Args()[1:], nil
}

// parseInterspersed parses the flags wherever they appear among args (the
// standard library stops at the first positional argument) and returns the
// positional arguments in order. Everything after "--" is positional.
func (fs *flagSet) parseInterspersed(args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.printUsage()
				return nil, err
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
