package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dpopkit/dpop/internal/testsupport"
)

// npmDeps are the packages package-lock.json pins; every one must be
// installed for the tests to run.
var npmDeps = []string{"dpop", "jose", "oauth4webapi", "oidc-provider"}

// requireNode returns the path of Node 22 (testsupport.Node22: DPOP_NODE,
// else tools/node22), after checking that the peers of package-lock.json
// are installed; it skips the test when either is missing, and fails it
// when DPOP_REQUIRE_DEPS=1.
func requireNode(t *testing.T) string {
	t.Helper()
	node := testsupport.Node22(t)
	for _, dep := range npmDeps {
		if _, err := os.Stat(filepath.Join("node_modules", dep, "package.json")); err != nil {
			testsupport.Missing(t, "interop: node_modules/"+dep+" is not installed", "install them with: npm ci --prefix interop")
		}
	}
	return node
}

// Steps of all the tests of the package, for the last line TestMain prints.
var totalPassed, totalFailed atomic.Int64

// report prints one line per step and a summary at the end of the test.
type report struct {
	t            *testing.T
	mu           sync.Mutex
	pass, failed int
}

func newReport(t *testing.T) *report {
	r := &report{t: t}
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		t.Logf("%d passed, %d failed", r.pass, r.failed)
	})
	return r
}

// ok records a passed step.
func (r *report) ok(name string) {
	r.t.Helper()
	r.mu.Lock()
	r.pass++
	r.mu.Unlock()
	totalPassed.Add(1)
	r.t.Logf("PASS %s", name)
}

// fail records a failed step; the test fails.
func (r *report) fail(name, format string, args ...any) {
	r.t.Helper()
	r.mu.Lock()
	r.failed++
	r.mu.Unlock()
	totalFailed.Add(1)
	r.t.Errorf("FAIL %s: %s", name, fmt.Sprintf(format, args...))
}

// check records name as passed when err is nil and failed otherwise.
func (r *report) check(name string, err error) bool {
	r.t.Helper()
	if err != nil {
		r.fail(name, "%v", err)
		return false
	}
	r.ok(name)
	return true
}

// runNode runs a script to completion with stdin and a deadline, and
// returns its standard output.
func runNode(t *testing.T, node string, timeout time.Duration, stdin []byte, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("node %s: %w; stderr: %s", strings.Join(args, " "), err, tail(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// tail keeps the end of a long diagnostic.
func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// startServer starts a long-running process, waits (bounded) for the first
// line of its standard output and decodes it into v. Its standard input is
// a pipe held open until the test ends (a script may stop when it closes).
// The process is stopped by its pid when the test ends: stdin closed,
// SIGTERM, then SIGKILL.
func startServer(t *testing.T, timeout time.Duration, v any, name string, args ...string) (*exec.Cmd, *testsupport.LockedBuffer, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	stderr := &testsupport.LockedBuffer{}
	cmd.Stderr = stderr
	first := &firstLine{ready: make(chan struct{})}
	cmd.Stdout = first
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, stderr, err
	}
	if err := cmd.Start(); err != nil {
		return nil, stderr, err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		stopProcess(cmd, done)
	})

	select {
	case <-first.ready:
		line := first.line()
		if err := json.Unmarshal(line, v); err != nil {
			return cmd, stderr, fmt.Errorf("%s: first line %q: %w", filepath.Base(name), line, err)
		}
		return cmd, stderr, nil
	case <-done:
		if line := first.line(); first.isDone() {
			return cmd, stderr, json.Unmarshal(line, v)
		}
		return cmd, stderr, fmt.Errorf("%s exited before printing its first line; stderr: %s", filepath.Base(name), tail(stderr.String()))
	case <-time.After(timeout):
		return cmd, stderr, fmt.Errorf("%s printed nothing in %v; stderr: %s", filepath.Base(name), timeout, tail(stderr.String()))
	}
}

// firstLine keeps the first line written to it and discards the rest.
type firstLine struct {
	mu    sync.Mutex
	buf   []byte
	done  bool
	ready chan struct{}
}

func (f *firstLine) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return len(p), nil
	}
	if i := bytes.IndexByte(p, '\n'); i >= 0 {
		f.buf = append(f.buf, p[:i]...)
		f.done = true
		close(f.ready)
		return len(p), nil
	}
	if len(f.buf) < 1<<20 {
		f.buf = append(f.buf, p...)
	}
	return len(p), nil
}

func (f *firstLine) isDone() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.done
}

func (f *firstLine) line() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf
}

// stopProcess ends the process started by startServer, by its pid.
func stopProcess(cmd *exec.Cmd, done <-chan struct{}) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return
	case <-time.After(3 * time.Second):
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return
	}
	select {
	case <-done:
	case <-time.After(3 * time.Second):
	}
}

// The dpop command, built once for the tests that run `dpop serve`.
var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// TestMain removes the directory of the built command.
func TestMain(m *testing.M) {
	code := m.Run()
	if n, f := totalPassed.Load(), totalFailed.Load(); n+f > 0 {
		fmt.Printf("interop: %d passed, %d failed\n", n, f)
	}
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// dpopCommand builds ./cmd/dpop once (bounded) and returns its path.
func dpopCommand() (string, error) {
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "dpop-interop-")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		bin := filepath.Join(buildDir, "dpop")
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/dpopkit/dpop/cmd/dpop").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/dpop: %w: %s", err, tail(string(out)))
			return
		}
		buildBin = bin
	})
	return buildBin, buildErr
}
