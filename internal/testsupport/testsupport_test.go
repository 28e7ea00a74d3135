package testsupport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

func TestClock(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	c := NewClock(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Now = %v, want %v", c.Now(), start)
	}
	c.Advance(time.Minute)
	if want := start.Add(time.Minute); !c.Now().Equal(want) {
		t.Fatalf("after Advance: %v, want %v", c.Now(), want)
	}
	c.Set(start)
	if !c.Now().Equal(start) {
		t.Fatalf("after Set: %v, want %v", c.Now(), start)
	}
}

func TestLockedBufferKeepsTheStart(t *testing.T) {
	var b LockedBuffer
	chunk := strings.Repeat("x", 64<<10)
	for range 40 {
		if n, err := b.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if n := len(b.String()); n > maxBuffered+len(chunk) || n < maxBuffered {
		t.Fatalf("kept %d bytes, want about %d", n, maxBuffered)
	}
}
