// Package buildinfo prints what a binary was built from, for the version
// commands of importd and importctl.
package buildinfo

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"text/tabwriter"
)

// Print writes what the binary name was built from (`importd version`):
// the module and its version, the VCS revision, its time and whether the
// tree was modified, and the Go version and platform. A binary built
// without VCS information (go run, a tree outside git, -buildvcs=false)
// says so instead of its revision.
func Print(w io.Writer, name string, bi *debug.BuildInfo, ok bool) {
	if !ok || bi == nil {
		fmt.Fprintf(w, "%s: no build information (a binary built without module support)\n", name)
		return
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	version := or(bi.Main.Version, "(devel)")
	fmt.Fprintf(w, "%s %s\n", name, version)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  module\t%s\n", or(bi.Main.Path, "unknown"))
	if rev := settings["vcs.revision"]; rev != "" {
		fmt.Fprintf(tw, "  revision\t%s\n", rev)
		fmt.Fprintf(tw, "  time\t%s\n", or(settings["vcs.time"], "unknown"))
		fmt.Fprintf(tw, "  modified\t%s\n", or(settings["vcs.modified"], "unknown"))
	} else {
		fmt.Fprintf(tw, "  revision\tunknown (built without VCS information)\n")
	}
	platform := strings.TrimSpace(settings["GOOS"] + "/" + settings["GOARCH"])
	if platform == "/" {
		platform = ""
	}
	fmt.Fprintf(tw, "  go\t%s\n", strings.TrimSpace(bi.GoVersion+" "+platform))
	tw.Flush()
}
