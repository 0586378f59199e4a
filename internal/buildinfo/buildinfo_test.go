package buildinfo

import (
	"bytes"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPrintVersion(t *testing.T) {
	t.Parallel()
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/importd/importd", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"},
			{Key: "vcs.revision", Value: "a1bb8c1107b8108d8fbb1eb63dd58aee9040370b"},
			{Key: "vcs.time", Value: "2026-12-05T16:06:50Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	var b bytes.Buffer
	Print(&b, "importd", bi, true)
	require.Equal(t, ""+
		"importd v1.4.0\n"+
		"  module    github.com/importd/importd\n"+
		"  revision  a1bb8c1107b8108d8fbb1eb63dd58aee9040370b\n"+
		"  time      2026-12-05T16:06:50Z\n"+
		"  modified  true\n"+
		"  go        go1.26.8 linux/amd64\n", b.String())

	b.Reset()
	Print(&b, "importd", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/importd/importd", Version: "(devel)"}}, true)
	require.Equal(t, ""+
		"importd (devel)\n"+
		"  module    github.com/importd/importd\n"+
		"  revision  unknown (built without VCS information)\n"+
		"  go        go1.26.8\n", b.String())

	b.Reset()
	Print(&b, "importd", nil, false)
	require.Contains(t, b.String(), "no build information")

	// The test binary's own build information: at least the Go version.
	b.Reset()
	bi, ok := debug.ReadBuildInfo()
	Print(&b, "importd", bi, ok)
	require.Contains(t, b.String(), "  go        go1.")
}
