package testsupport

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRepoRootFindsTools(t *testing.T) {
	root := RepoRoot()
	if root == "" {
		t.Fatal("RepoRoot: no tools/node22 above the package directory")
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("RepoRoot %s has no go.mod", root)
	}
}

func TestNode22PathRefusesABadBinary(t *testing.T) {
	t.Setenv("DPOP_NODE", filepath.Join(t.TempDir(), "no-such-node"))
	if _, err := Node22Path(); err == nil {
		t.Fatal("Node22Path accepted a binary that does not exist")
	}
}

func TestNode22(t *testing.T) {
	p := Node22(t)
	if p == "" {
		t.Fatal("Node22 returned an empty path")
	}
}
