package pdstest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dpopkit/dpop/internal/testsupport"
)

// Time bounds of starting and stopping the server.
const (
	startTimeout  = 90 * time.Second // a cold start is 3-4 s on an idle machine
	healthTimeout = 30 * time.Second
	stopGrace     = 5 * time.Second
)

// install says how to install the dependencies.
const install = "install them with: internal/pdstest/install.sh"

// Server is a running reference PDS with its PLC directory stand-in.
type Server struct {
	// URL is the PDS's origin, http://localhost:<port>: its issuer, its
	// resource identifier and the base of its XRPC endpoints.
	URL string
	// PLC is the PLC directory stand-in's URL, http://localhost:<port>.
	PLC string
	// CA is the certificate authority the PDS process trusts
	// (NODE_EXTRA_CA_CERTS) beside the system's; [Server.ServeTLS] uses it.
	CA *CA

	cmd    *exec.Cmd
	stdin  io.Closer
	stderr *testsupport.LockedBuffer
	done   chan struct{} // closed when the process has been waited for
}

// NodeDir returns the directory of the npm packages and scripts
// (internal/pdstest/node), skipping t (or failing it under
// DPOP_REQUIRE_DEPS=1) when the packages are not installed.
func NodeDir(t testing.TB) string {
	t.Helper()
	root := testsupport.RepoRoot()
	if root == "" {
		testsupport.Missing(t, "the reference PDS tests need the repository checkout (no tools/node22 above the working directory)", install)
	}
	dir := filepath.Join(root, "internal", "pdstest", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@atproto", "pds", "package.json")); err != nil {
		testsupport.Missing(t, "the reference PDS is not installed in "+dir, install)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "better-sqlite3", "build", "Release", "better_sqlite3.node")); err != nil {
		testsupport.Missing(t, "better-sqlite3 (the PDS's database) is not built in "+dir, install)
	}
	return dir
}

// Start starts the reference PDS and the PLC stand-in on 127.0.0.1, waits
// until the PDS answers /xrpc/_health, and stops them when t ends. It skips
// t (fails it under DPOP_REQUIRE_DEPS=1) when Node 22 or the npm packages
// are missing.
func Start(t testing.TB) *Server {
	t.Helper()
	node := testsupport.Node22(t)
	dir := NodeDir(t)
	tmp := t.TempDir()
	ca, err := NewCA()
	if err != nil {
		t.Fatalf("pdstest: test CA: %v", err)
	}
	caFile := filepath.Join(tmp, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatalf("pdstest: %v", err)
	}
	data := filepath.Join(tmp, "data")

	cmd := exec.Command(node, "pds.mjs", data)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"NODE_OPTIONS=--require "+filepath.Join(dir, "dns-preload.cjs"),
		"NODE_EXTRA_CA_CERTS="+caFile,
	)
	// A process group of its own, so that stopping it stops everything
	// it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe() // the script exits when this closes
	if err != nil {
		t.Fatalf("pdstest: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("pdstest: %v", err)
	}
	s := &Server{CA: ca, cmd: cmd, stdin: stdin, stderr: new(testsupport.LockedBuffer), done: make(chan struct{})}
	cmd.Stderr = s.stderr
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("pdstest: starting %s: %v", node, err)
	}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.stop)

	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(io.LimitReader(stdout, 4096)).ReadString('\n')
		ready <- line
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var line string
	select {
	case line = <-ready:
	case <-time.After(startTimeout):
		t.Fatalf("pdstest: the PDS did not start within %v; its output:\n%s", startTimeout, s.stderr)
	}
	var addrs struct{ PDS, PLC string }
	if err := json.Unmarshal([]byte(line), &addrs); err != nil || addrs.PDS == "" || addrs.PLC == "" {
		<-waitOrTimeout(s.done, stopGrace)
		t.Fatalf("pdstest: the PDS did not start: got %q on stdout; its output:\n%s", line, s.stderr)
	}
	s.URL, s.PLC = addrs.PDS, addrs.PLC
	if err := s.waitHealthy(); err != nil {
		t.Fatalf("pdstest: %v; its output:\n%s", err, s.stderr)
	}
	t.Logf("pdstest: PDS at %s, PLC at %s, healthy after %v", s.URL, s.PLC, time.Since(began).Round(time.Millisecond))
	return s
}

func waitOrTimeout(done <-chan struct{}, d time.Duration) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(d):
		}
		close(c)
	}()
	return c
}

// waitHealthy polls /xrpc/_health until it answers 200, for at most
// healthTimeout.
func (s *Server) waitHealthy() error {
	ctx, cancel := context.WithTimeout(context.Background(), healthTimeout)
	defer cancel()
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/xrpc/_health", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s/xrpc/_health did not answer 200 within %v (last: %s)", s.URL, healthTimeout, last)
		case <-s.done:
			return errors.New("the PDS process exited")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends the process group: SIGTERM, then SIGKILL after stopGrace.
func (s *Server) stop() {
	pgid := s.cmd.Process.Pid
	_ = s.stdin.Close()
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopGrace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.done
	}
}

// Output returns what the PDS process wrote on its standard error (its log
// when LOG_ENABLED=true is in the environment).
func (s *Server) Output() string { return s.stderr.String() }

// Account is an account on the PDS.
type Account struct {
	DID      string
	Handle   string
	Email    string
	Password string
}

// CreateAccount creates an account with handle (under .test, as the PDS's
// handle domain is in this configuration) through
// com.atproto.server.createAccount, which registers its DID with the PLC
// stand-in.
func (s *Server) CreateAccount(t testing.TB, handle string) Account {
	t.Helper()
	name, _, _ := strings.Cut(handle, ".")
	a := Account{Handle: handle, Email: name + "@example.com", Password: name + "-password-" + handle}
	body, _ := json.Marshal(map[string]string{"email": a.Email, "handle": a.Handle, "password": a.Password})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/xrpc/com.atproto.server.createAccount", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("pdstest: createAccount: %v", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pdstest: createAccount %s: HTTP %d %s", handle, resp.StatusCode, out)
	}
	var r struct {
		DID    string `json:"did"`
		Handle string `json:"handle"`
	}
	if err := json.Unmarshal(out, &r); err != nil || !strings.HasPrefix(r.DID, "did:plc:") {
		t.Fatalf("pdstest: createAccount %s: unexpected answer %s", handle, out)
	}
	a.DID = r.DID
	return a
}
