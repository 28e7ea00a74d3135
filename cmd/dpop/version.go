package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
)

var versionUsage = usage{
	name:     "version",
	synopsis: "dpop version",
	about: `Print the version of the tool (its module version, or the VCS revision it
was built from) and of the Go toolchain that built it.`,
	examples: `  dpop version`,
}

func runVersion(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	u := &versionUsage
	fs := newFlagSet(u.name, stderr)
	positional, code, ok := parseArgs(fs, u, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(positional) > 0 {
		return usageError(stderr, u, "unexpected argument %s", quote(positional[0]))
	}
	return writeOut(stdout, stderr, u.name, []byte(versionString()+"\n"))
}

// versionString is "dpop VERSION (go1.x)", the version being the module's,
// or the VCS revision for a build from a checkout.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dpop (unknown version)"
	}
	v := bi.Main.Version
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if (v == "" || v == "(devel)") && rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v = "devel " + rev + modified
	}
	if v == "" {
		v = "(devel)"
	}
	return fmt.Sprintf("dpop %s %s (%s)", bi.Main.Path, v, bi.GoVersion)
}
