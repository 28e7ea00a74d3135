package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInspectProof(t *testing.T) {
	r := mustRun(t, exitOK, "", "inspect", "-now", rfcNow, rfcProof)
	for _, want := range []string{"DPoP proof", "thumbprint " + rfcJKT, "(2019-07-04T17:50:16Z, 1 s ago)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	// From standard input, checked against a request it does not fit.
	r = mustRun(t, exitFail, rfcProof+"\n", "inspect", "-now", rfcNow, "-method", "GET", "-url", rfcURL, "-")
	if !strings.Contains(r.stdout, "✗ FAILED  htm") || !strings.Contains(r.stdout, "expected GET") || !strings.Contains(r.stdout, "got      POST") {
		t.Errorf("output:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "verifier: rejected: invalid_dpop_proof") {
		t.Errorf("no verdict:\n%s", r.stdout)
	}
}

func TestInspectJSON(t *testing.T) {
	r := mustRun(t, exitOK, "", "inspect", "-json", "-now", rfcNow, "-method", "POST", "-url", rfcURL, rfcProof)
	var rep struct {
		Kind    string `json:"kind"`
		JKT     string `json:"jkt"`
		Verdict struct {
			Valid bool `json:"valid"`
		} `json:"verdict"`
		Checks []struct {
			Check  string `json:"check"`
			Passed bool   `json:"passed"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Kind != "dpop_proof" || rep.JKT != rfcJKT || !rep.Verdict.Valid || len(rep.Checks) < 7 {
		t.Errorf("%+v", rep)
	}
}

// TestInspectGarbage: input of no known kind is a usage error naming what
// it got.
func TestInspectGarbage(t *testing.T) {
	for _, in := range []string{"not.a.proof!", "hello", `{"a":1}`} {
		r := mustRun(t, exitUsage, "", "inspect", in)
		if !strings.HasPrefix(r.stderr, "dpop inspect: cannot inspect this: it is ") || r.stdout != "" {
			t.Errorf("inspect %q: stderr %q stdout %q", in, r.stderr, r.stdout)
		}
	}
	r := mustRun(t, exitFail, "", "inspect", "-")
	if !strings.Contains(r.stderr, "empty") {
		t.Errorf("empty stdin: %q", r.stderr)
	}
}

// TestInspectFiles: a key file is read, and a private one readable by
// others gets a warning.
func TestInspectFiles(t *testing.T) {
	key := mustRun(t, exitOK, "", "keygen").stdout
	path := filepath.Join(t.TempDir(), "key.jwk")
	if err := os.WriteFile(path, []byte(key), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, exitOK, "", "inspect", path)
	if !strings.Contains(r.stdout, "private JWK") || strings.Contains(r.stdout, `"d"`) {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "warning: "+path+" is readable by other users (mode 0644)") {
		t.Errorf("stderr = %q", r.stderr)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := mustRun(t, exitOK, "", "inspect", path); r.stderr != "" {
		t.Errorf("mode 0600: stderr = %q", r.stderr)
	}
}
