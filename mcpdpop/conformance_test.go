package mcpdpop_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop/internal/testsupport"
)

// The official MCP conformance suite (npm @modelcontextprotocol/conformance,
// pinned in conformance/package-lock.json) runs its client scenarios for the
// DPoP profile against the example client: it starts its own authorization
// server and MCP server on localhost, runs the client with the MCP URL, and
// checks every request. The suite listens on all interfaces, so it runs in
// a network namespace of its own with only loopback up.
//
// Run it with:
//
//	npm ci --prefix tools/node22 && npm ci --prefix mcpdpop/conformance
//	cd mcpdpop && go test -run TestConformance -v .
func TestConformanceClientScenarios(t *testing.T) {
	node, suite, netns := conformanceDeps(t)
	bin := buildExample(t, "mcp-client")

	for _, tc := range []struct {
		scenario string
		checks   []string
	}{
		{"auth/dpop", []string{
			"sep-1932-client-token-request-proof",
			"sep-1932-client-dpop-auth-scheme",
			"sep-1932-client-fresh-proof",
		}},
		{"auth/dpop-nonce", []string{
			"sep-1932-client-token-request-proof",
			"sep-1932-client-dpop-auth-scheme",
			"sep-1932-client-fresh-proof",
			"sep-1932-client-as-nonce",
			"sep-1932-client-rs-nonce",
		}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			res := runConformance(t, node, suite, netns, bin+" -tool test-tool", tc.scenario)
			if res.err != nil {
				t.Errorf("suite exit: %v\n%s", res.err, res.tail)
			}
			if len(res.failed) > 0 {
				t.Errorf("failed checks: %v", res.failed)
			}
			for _, id := range tc.checks {
				if res.status[id] != "SUCCESS" {
					t.Errorf("check %s: %q, want SUCCESS", id, res.status[id])
				}
			}
			if res.passed == 0 {
				t.Errorf("no check passed\n%s", res.tail)
			}
			t.Logf("%s: %d checks passed, %d failed, in %v", tc.scenario, res.passed, len(res.failed), res.took.Round(time.Millisecond))
		})
	}

	// The control: the same client without the adapter (go-sdk's handler
	// over the DPoP transport) must fail the DPoP scheme and proof checks,
	// which shows the checks above can fail.
	t.Run("control", func(t *testing.T) {
		res := runConformance(t, node, suite, netns, bin+" -tool test-tool -plain", "auth/dpop-nonce")
		if res.err == nil {
			t.Errorf("the suite passed the client without the adapter")
		}
		for _, id := range []string{"sep-1932-client-dpop-auth-scheme", "sep-1932-client-fresh-proof", "sep-1932-client-rs-nonce"} {
			if res.status[id] != "FAILURE" {
				t.Errorf("control check %s: %q, want FAILURE", id, res.status[id])
			}
		}
		if res.status["sep-1932-client-token-request-proof"] != "SUCCESS" {
			t.Errorf("control: the token request proof comes from the DPoP transport and should pass, got %q", res.status["sep-1932-client-token-request-proof"])
		}
	})
}

type conformanceResult struct {
	err    error
	status map[string]string // check id -> SUCCESS, FAILURE, WARNING
	failed []string
	passed int
	tail   string
	took   time.Duration
}

func runConformance(t *testing.T, node, suite string, netns []string, command, scenario string) conformanceResult {
	t.Helper()
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	script := "ip link set lo up && exec \"$0\" \"$@\""
	args := append(append([]string{}, netns...), "sh", "-c", script, node, suite,
		"client", "--command", command, "--scenario", scenario, "--timeout", "30000", "-o", out)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = filepath.Dir(suite)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	b, err := cmd.CombinedOutput()
	res := conformanceResult{err: err, status: map[string]string{}, took: time.Since(start)}
	s := string(b)
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	res.tail = s
	files, _ := filepath.Glob(filepath.Join(out, "*", "*", "checks.json"))
	if len(files) != 1 {
		t.Fatalf("%s: want one checks.json, found %v (exit %v)\n%s", scenario, files, err, s)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var checks []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(data, &checks); err != nil {
		t.Fatalf("checks.json: %v", err)
	}
	for _, c := range checks {
		switch c.Status {
		case "SUCCESS":
			res.passed++
			if res.status[c.ID] == "" {
				res.status[c.ID] = c.Status
			}
		case "FAILURE", "WARNING":
			res.failed = append(res.failed, c.ID)
			res.status[c.ID] = c.Status
		}
	}
	return res
}

// conformanceDeps finds Node 22, the installed suite and a way to run it in
// a network namespace of its own, or skips (fails under DPOP_REQUIRE_DEPS=1).
func conformanceDeps(t *testing.T) (node, suite string, netns []string) {
	t.Helper()
	if testing.Short() {
		t.Skip("the conformance suite takes seconds; not in -short")
	}
	node = testsupport.Node22(t)
	suite, err := filepath.Abs(filepath.Join("conformance", "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(suite); err != nil {
		testsupport.Missing(t, "the MCP conformance suite is not installed", "install it with: npm ci --prefix mcpdpop/conformance")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		testsupport.Missing(t, "unshare not found: it confines the suite to a network namespace", "apt-get install util-linux")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		testsupport.Missing(t, "ip not found: it brings up loopback in the suite's network namespace", "apt-get install iproute2")
	}
	netns = []string{unshare, "--map-root-user", "--net"}
	if err := exec.Command(netns[0], append(netns[1:], "sh", "-c", "ip link set lo up")...).Run(); err != nil {
		testsupport.Missing(t, "cannot create a network namespace with unshare --map-root-user --net: "+err.Error(), "run as root or allow unprivileged user namespaces")
	}
	return node, suite, netns
}

// buildExample builds one of the example commands into a temporary
// directory and returns the binary's path.
func buildExample(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("building %s: the go command is not on PATH: %v", name, err)
	}
	cmd := exec.Command(goBin, "build", "-o", bin, "./examples/"+name)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, strings.TrimSpace(string(out)))
	}
	return bin
}
