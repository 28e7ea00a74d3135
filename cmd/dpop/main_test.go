package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpopkit/dpop"
)

// The example proof of RFC 9449 §4.1 (Figure 4), with its key's thumbprint.
const (
	rfcProof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19" +
		".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ" +
		".2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
	rfcJWK = `{"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}`
	rfcJKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	rfcJTI = "-BwC3ESc6acc2lTc"
	rfcURL = "https://server.example.com/token"
	rfcNow = "1562262617" // one second after the proof's iat
)

// result is the outcome of one call of run.
type result struct {
	code           int
	stdout, stderr string
}

// runTool calls run with args and stdin and returns what it wrote.
func runTool(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(stdin), &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// mustRun runs the tool and fails the test unless it exits with want.
func mustRun(t *testing.T, want int, stdin string, args ...string) result {
	t.Helper()
	r := runTool(t, stdin, args...)
	if r.code != want {
		t.Fatalf("dpop %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

// decodeLines decodes each line of out as one JSON object.
func decodeLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for line := range strings.Lines(out) {
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("output line %q is not a JSON object: %v", line, err)
		}
		objs = append(objs, m)
	}
	return objs
}

// decodeOne decodes out as exactly one line holding one JSON object.
func decodeOne(t *testing.T, out string) map[string]any {
	t.Helper()
	objs := decodeLines(t, out)
	if len(objs) != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("want one JSON line, got %q", out)
	}
	return objs[0]
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNoArguments(t *testing.T) {
	r := mustRun(t, exitUsage, "")
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}
	for _, c := range commands {
		if !strings.Contains(r.stderr, c.name) {
			t.Errorf("the command list on stderr lacks %s:\n%s", c.name, r.stderr)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"help", "help"}} {
		r := mustRun(t, exitOK, "", args...)
		if r.stderr != "" {
			t.Errorf("dpop %v: stderr = %q", args, r.stderr)
		}
		for _, c := range commands {
			if !strings.Contains(r.stdout, "  "+c.name+" ") || !strings.Contains(r.stdout, c.summary) {
				t.Errorf("dpop %v: the list lacks %s", args, c.name)
			}
		}
	}
}

// TestCommandHelp checks that "-h" and "dpop help NAME" print the same
// help, with flags and examples, on stdout and exit 0.
func TestCommandHelp(t *testing.T) {
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			h := mustRun(t, exitOK, "", c.name, "-h")
			if h.stderr != "" {
				t.Errorf("-h: stderr = %q", h.stderr)
			}
			for _, want := range []string{"Usage: dpop " + c.name, "Flags:", "Examples:", "dpop " + c.name} {
				if !strings.Contains(h.stdout, want) {
					t.Errorf("-h output lacks %q:\n%s", want, h.stdout)
				}
			}
			help := mustRun(t, exitOK, "", "help", c.name)
			if help.stdout != h.stdout {
				t.Errorf("dpop help %s differs from dpop %s -h", c.name, c.name)
			}
			// -h wins over other flags and arguments.
			mustRun(t, exitOK, "", c.name, "extra", "-h")
		})
	}
}

func TestUsageErrors(t *testing.T) {
	key := writeFile(t, "key.jwk", mustRun(t, exitOK, "", "keygen").stdout)
	tests := []struct {
		name string
		args []string
	}{
		{"unknown command", []string{"frobnicate"}},
		{"unknown top-level flag", []string{"-v"}},
		{"help for unknown command", []string{"help", "frobnicate"}},
		{"help with two names", []string{"help", "keygen", "proof"}},
		{"keygen unknown alg", []string{"keygen", "-alg", "HS256"}},
		{"keygen alg none", []string{"keygen", "-alg", "none"}},
		{"keygen unknown flag", []string{"keygen", "-bits", "4096"}},
		{"keygen argument", []string{"keygen", "ES256"}},
		{"keygen missing flag value", []string{"keygen", "-alg"}},
		{"thumbprint argument", []string{"thumbprint", "key.jwk"}},
		{"proof missing -key", []string{"proof", "-method", "POST", "-url", rfcURL}},
		{"proof missing -method", []string{"proof", "-key", key, "-url", rfcURL}},
		{"proof missing -url", []string{"proof", "-key", key, "-method", "POST"}},
		{"proof bad method", []string{"proof", "-key", key, "-method", "PO ST", "-url", rfcURL}},
		{"proof relative url", []string{"proof", "-key", key, "-method", "POST", "-url", "/token"}},
		{"proof ftp url", []string{"proof", "-key", key, "-method", "POST", "-url", "ftp://server.example.com/token"}},
		{"proof bad nonce", []string{"proof", "-key", key, "-method", "POST", "-url", rfcURL, "-nonce", `a"b`}},
		{"proof bad access token", []string{"proof", "-key", key, "-method", "POST", "-url", rfcURL, "-access-token", "a b"}},
		{"proof bad iat", []string{"proof", "-key", key, "-method", "POST", "-url", rfcURL, "-iat", "yesterday"}},
		{"proof negative iat", []string{"proof", "-key", key, "-method", "POST", "-url", rfcURL, "-iat", "-1"}},
		{"verify missing -method", []string{"verify", "-url", rfcURL, rfcProof}},
		{"verify missing -url", []string{"verify", "-method", "POST", rfcProof}},
		{"verify missing proof", []string{"verify", "-method", "POST", "-url", rfcURL}},
		{"verify two proofs", []string{"verify", "-method", "POST", "-url", rfcURL, rfcProof, rfcProof}},
		{"verify algs none", []string{"verify", "-algs", "none", "-method", "POST", "-url", rfcURL, rfcProof}},
		{"verify algs HS256", []string{"verify", "-algs", "ES256,HS256", "-method", "POST", "-url", rfcURL, rfcProof}},
		{"verify empty algs", []string{"verify", "-algs", ",", "-method", "POST", "-url", rfcURL, rfcProof}},
		{"verify bad now", []string{"verify", "-now", "1.5e9", "-method", "POST", "-url", rfcURL, rfcProof}},
		{"verify bad max-age", []string{"verify", "-max-age", "60", "-method", "POST", "-url", rfcURL, rfcProof}},
		{"verify zero max-age", []string{"verify", "-max-age", "0s", "-method", "POST", "-url", rfcURL, rfcProof}},
		{"verify negative leeway", []string{"verify", "-leeway", "-1s", "-method", "POST", "-url", rfcURL, rfcProof}},
		{"verify bad jkt", []string{"verify", "-jkt", "abc", "-method", "POST", "-url", rfcURL, rfcProof}},
		{"verify bad nonce", []string{"verify", "-nonce", "a b", "-method", "POST", "-url", rfcURL, rfcProof}},
		{"verify bad url", []string{"verify", "-method", "POST", "-url", "server.example.com/token", rfcProof}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRun(t, exitUsage, "", tc.args...)
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if r.stderr == "" {
				t.Error("no message on stderr")
			}
		})
	}
}

func TestKeygenDefaultsToES256(t *testing.T) {
	r := mustRun(t, exitOK, "", "keygen")
	key, err := dpop.ParseKey([]byte(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	if key.Algorithm() != dpop.ES256 {
		t.Errorf("alg = %s, want ES256", key.Algorithm())
	}
}

// TestKeygenThumbprint generates a key for every algorithm and checks that
// the thumbprint of the private JWK is that of its public part.
func TestKeygenThumbprint(t *testing.T) {
	for _, alg := range dpop.DefaultAlgorithms() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			r := mustRun(t, exitOK, "", "keygen", "-alg", string(alg))
			if r.stderr != "" {
				t.Errorf("stderr = %q", r.stderr)
			}
			if !strings.HasSuffix(r.stdout, "}\n") || strings.Count(r.stdout, "\n") != 1 {
				t.Fatalf("output is not one JWK line: %q", r.stdout)
			}
			key, err := dpop.ParseKey([]byte(r.stdout))
			if err != nil {
				t.Fatalf("ParseKey of the output: %v", err)
			}
			if key.Algorithm() != alg {
				t.Errorf("key alg = %s, want %s", key.Algorithm(), alg)
			}
			want, err := dpop.Thumbprint(key.PublicJWK())
			if err != nil {
				t.Fatal(err)
			}
			if want != key.Thumbprint() {
				t.Fatalf("Thumbprint(PublicJWK) = %s, Key.Thumbprint = %s", want, key.Thumbprint())
			}

			fromStdin := mustRun(t, exitOK, r.stdout, "thumbprint")
			fromDash := mustRun(t, exitOK, r.stdout, "thumbprint", "-key", "-")
			fromFile := mustRun(t, exitOK, "", "thumbprint", "-key", writeFile(t, "key.jwk", r.stdout))
			public := mustRun(t, exitOK, string(key.PublicJWK()), "thumbprint")
			for _, got := range []result{fromStdin, fromDash, fromFile, public} {
				if got.stdout != want+"\n" {
					t.Errorf("thumbprint printed %q, want %q", got.stdout, want+"\n")
				}
			}
		})
	}
}

func TestThumbprintRFCExample(t *testing.T) {
	// Surrounding whitespace, a trailing newline included, is ignored.
	r := mustRun(t, exitOK, "\n\t "+rfcJWK+" \r\n\n", "thumbprint")
	if r.stdout != rfcJKT+"\n" {
		t.Errorf("thumbprint = %q, want %q", r.stdout, rfcJKT+"\n")
	}
}

// TestFailedOperations checks that unreadable or malformed input gives exit
// status 1, a message on stderr and nothing on stdout.
func TestFailedOperations(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.jwk")
	malformed := writeFile(t, "bad.jwk", `{"kty":"EC","crv":"P-256","x":"oops"}`)
	public := writeFile(t, "public.jwk", rfcJWK)
	notJSON := writeFile(t, "garbage.jwk", "not a key\n")
	huge := writeFile(t, "huge.jwk", `{"kty":"EC","pad":"`+strings.Repeat("A", maxInput)+`"}`)
	empty := writeFile(t, "empty.jwk", " \n")
	proofArgs := func(key string) []string {
		return []string{"proof", "-key", key, "-method", "POST", "-url", rfcURL}
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
	}{
		{"proof malformed key", "", proofArgs(malformed)},
		{"proof missing key file", "", proofArgs(missing)},
		{"proof public key", "", proofArgs(public)},
		{"proof not JSON", "", proofArgs(notJSON)},
		{"proof huge key", "", proofArgs(huge)},
		{"proof empty key", "", proofArgs(empty)},
		{"proof malformed key on stdin", "{", proofArgs("-")},
		{"thumbprint malformed key", "", []string{"thumbprint", "-key", malformed}},
		{"thumbprint missing key file", "", []string{"thumbprint", "-key", missing}},
		{"thumbprint not JSON", "not a key", []string{"thumbprint"}},
		{"thumbprint huge input", strings.Repeat(" ", maxInput) + rfcJWK, []string{"thumbprint"}},
		{"thumbprint empty input", "", []string{"thumbprint"}},
		{"thumbprint symmetric key", `{"kty":"oct","k":"c2VjcmV0"}`, []string{"thumbprint"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRun(t, exitFail, tc.stdin, tc.args...)
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if !strings.HasPrefix(r.stderr, "dpop "+tc.args[0]+": ") {
				t.Errorf("stderr = %q, want a dpop %s message", r.stderr, tc.args[0])
			}
		})
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestWriteError(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"thumbprint"}, strings.NewReader(rfcJWK), failingWriter{}, &stderr); code != exitFail {
		t.Errorf("exit %d, want %d", code, exitFail)
	}
	if !strings.Contains(stderr.String(), "writing the result") {
		t.Errorf("stderr = %q", stderr.String())
	}
}
