package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"bytes"
	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/dpoptest"
	"os"
	"path/filepath"
	"regexp"
	"unicode/utf8"
)

// demoResult is the -json output of demo.
type demoResult struct {
	Steps []struct {
		Name      string      `json:"name"`
		Passed    bool        `json:"passed"`
		Detail    string      `json:"detail"`
		Exchanges []*exchange `json:"exchanges"`
	} `json:"steps"`
	Passed bool `json:"passed"`
}

func decodeDemo(t *testing.T, out string) demoResult {
	t.Helper()
	var d demoResult
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("demo -json output is not JSON: %v\n%s", err, out)
	}
	var names []string
	for _, s := range d.Steps {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, demoStepNames) {
		t.Fatalf("steps = %v, want %v", names, demoStepNames)
	}
	return d
}

func TestDemo(t *testing.T) {
	r := mustRun(t, exitOK, "", "demo")
	if n := strings.Count(r.stdout, "✓"); n != len(demoStepNames) {
		t.Errorf("%d passed verdicts, want %d:\n%s", n, len(demoStepNames), r.stdout)
	}
	for _, want := range []string{
		"All 8 steps behaved as expected.",
		"> POST http://127.0.0.1:", "error=use_dpop_nonce", "DPoP-Nonce: ", "token_type=DPoP",
		"error=invalid_token", "error=invalid_dpop_proof", " ath=", " nonce=",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the demo's output lacks %q", want)
		}
	}
	if strings.Contains(r.stdout, "✗") {
		t.Errorf("a step failed:\n%s", r.stdout)
	}
	if r.stderr != "" {
		t.Errorf("stderr = %q", r.stderr)
	}
}

func TestDemoJSON(t *testing.T) {
	r := mustRun(t, exitOK, "", "demo", "-json")
	d := decodeDemo(t, r.stdout)
	if !d.Passed {
		t.Error("passed = false")
	}
	byName := map[string]int{}
	for i, s := range d.Steps {
		byName[s.Name] = i
		if !s.Passed || s.Detail == "" || len(s.Exchanges) == 0 {
			t.Errorf("step %s: passed %v, detail %q, %d exchanges", s.Name, s.Passed, s.Detail, len(s.Exchanges))
		}
	}
	par := d.Steps[byName["par"]].Exchanges
	if len(par) != 2 || par[0].Status != http.StatusBadRequest || par[0].Error != dpop.CodeUseNonce ||
		par[1].Status != http.StatusCreated || par[1].Proof == nil || par[1].Proof.Nonce != par[0].Nonce {
		t.Errorf("par exchanges: %+v", par)
	}
	res := d.Steps[byName["resource"]].Exchanges
	if len(res) != 2 || res[0].Status != http.StatusUnauthorized || res[1].Status != http.StatusOK || res[1].Proof == nil || res[1].Proof.ATH == "" {
		t.Errorf("resource exchanges: %+v", res)
	}
	other := d.Steps[byName["attack_other_key"]].Exchanges
	if last := other[len(other)-1]; last.Status != http.StatusUnauthorized || last.Error != dpop.CodeInvalidToken {
		t.Errorf("attack_other_key ended with %d %s", last.Status, last.Error)
	}
	replay := d.Steps[byName["attack_replay"]].Exchanges
	if last := replay[len(replay)-1]; last.Status != http.StatusUnauthorized || last.Error != dpop.CodeInvalidProof {
		t.Errorf("attack_replay ended with %d %s", last.Status, last.Error)
	}
	if r.stderr != "" {
		t.Errorf("stderr = %q", r.stderr)
	}
}

// TestDemoDetectsMisbehaviour runs the demo against servers that demand
// no nonces: the steps that expect a nonce challenge fail, and so does the
// demo.
func TestDemoDetectsMisbehaviour(t *testing.T) {
	saved := demoServerOptions
	t.Cleanup(func() { demoServerOptions = saved })
	demoServerOptions = dpoptest.Options{Nonces: dpoptest.NoncesNone}

	r := mustRun(t, exitFail, "", "demo", "-json")
	d := decodeDemo(t, r.stdout)
	if d.Passed {
		t.Error("passed = true")
	}
	failed := map[string]bool{}
	for _, s := range d.Steps {
		if !s.Passed {
			failed[s.Name] = true
		}
	}
	for _, name := range []string{"par", "token", "resource"} {
		if !failed[name] {
			t.Errorf("step %s passed without nonces", name)
		}
	}
	if failed["attack_replay"] || failed["attack_other_key"] {
		t.Errorf("an attack succeeded without nonces: %v", failed)
	}
	if !strings.Contains(r.stderr, "did not behave as expected") {
		t.Errorf("stderr = %q", r.stderr)
	}

	text := mustRun(t, exitFail, "", "demo")
	if !strings.Contains(text.stdout, "✗") || !strings.Contains(text.stdout, "did not behave as expected") {
		t.Errorf("the readable output shows no failure:\n%s", text.stdout)
	}
}

func TestNonceRetried(t *testing.T) {
	ok := func() []*exchange {
		return []*exchange{
			{Status: 400, Error: dpop.CodeUseNonce, Nonce: "n1", Proof: &proofClaims{JTI: "a"}},
			{Status: 201, Proof: &proofClaims{JTI: "b", Nonce: "n1"}},
		}
	}
	if msg := nonceRetried(ok(), 400, 201); msg != "" {
		t.Fatalf("a good sequence: %s", msg)
	}
	tests := map[string]func([]*exchange) []*exchange{
		"one request":       func(x []*exchange) []*exchange { return x[1:] },
		"no nonce":          func(x []*exchange) []*exchange { x[0].Nonce = ""; return x },
		"other error":       func(x []*exchange) []*exchange { x[0].Error = dpop.CodeInvalidProof; return x },
		"retry sans nonce":  func(x []*exchange) []*exchange { x[1].Proof.Nonce = ""; return x },
		"retry failed":      func(x []*exchange) []*exchange { x[1].Status = 400; return x },
		"same proof resent": func(x []*exchange) []*exchange { x[1].Proof.JTI = "a"; return x },
		"retry unsigned":    func(x []*exchange) []*exchange { x[1].Proof = nil; return x },
	}
	for name, f := range tests {
		if nonceRetried(f(ok()), 400, 201) == "" {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDecodeProof(t *testing.T) {
	p := decodeProof(rfcProof)
	if p == nil {
		t.Fatal("the RFC 9449 example proof did not decode")
	}
	want := proofClaims{Alg: "ES256", JKT: rfcJKT, HTM: "POST", HTU: rfcURL, IAT: 1562262616, JTI: rfcJTI}
	if *p != want {
		t.Errorf("decoded %+v, want %+v", *p, want)
	}
	for _, bad := range []string{"", "a.b", "a.b.c", "!!.!!.!!"} {
		if decodeProof(bad) != nil {
			t.Errorf("decodeProof(%q) != nil", bad)
		}
	}
}

func TestDescribeForm(t *testing.T) {
	got := describeForm([]byte("grant_type=refresh_token&refresh_token=0123456789abcdef&client_secret=s3cret&client_id=c"))
	want := "grant_type=refresh_token refresh_token=01234567… client_secret=*** client_id=c"
	if got != want {
		t.Errorf("describeForm = %q, want %q", got, want)
	}
}

// TestDemoReadable: the lines fit 100 columns, there is no colour when
// the output is not a terminal, nonces are named in order, each term is
// explained once and the proof header is shown once per key.
func TestDemoReadable(t *testing.T) {
	r := mustRun(t, exitOK, "", "demo")
	for line := range strings.Lines(r.stdout) {
		if n := utf8.RuneCountInString(strings.TrimSuffix(line, "\n")); n > demoWidth {
			t.Errorf("a line of %d columns: %q", n, line)
		}
	}
	if strings.Contains(r.stdout, "\x1b[") {
		t.Error("colour escapes in output that is not a terminal")
	}
	for _, want := range []string{"DPoP-Nonce: n1 (…", "nonce=n1 (…", "DPoP-Nonce: n2 (…", "iat=", "Z jti="} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	for _, term := range []string{"· jkt: ", "· htm, htu: ", "· ath: ", "· nonce: "} {
		if n := strings.Count(r.stdout, term); n != 1 {
			t.Errorf("%q explained %d times, want once", term, n)
		}
	}
	// Two keys sign proofs in the demo: the client's and the attacker's.
	if n := strings.Count(r.stdout, "DPoP header: typ dpop+jwt"); n != 2 {
		t.Errorf("the proof header is shown %d times, want once per key (2)", n)
	}
	if regexp.MustCompile(`iat=\d{9,}`).MatchString(r.stdout) {
		t.Error("iat shown as a Unix number")
	}
}

func TestUseColor(t *testing.T) {
	if useColor(&bytes.Buffer{}) {
		t.Error("colour on a buffer")
	}
	t.Setenv("NO_COLOR", "1")
	if useColor(os.Stdout) {
		t.Error("colour with NO_COLOR set")
	}
	var b strings.Builder
	wrap(&b, "   ", "     ", strings.Repeat("word ", 50))
	for line := range strings.Lines(b.String()) {
		if len(strings.TrimSuffix(line, "\n")) > demoWidth || !strings.HasPrefix(line, "   ") {
			t.Errorf("wrapped line %q", line)
		}
	}
	if n := visibleLen("\x1b[1mbold\x1b[0m"); n != 4 {
		t.Errorf("visibleLen = %d", n)
	}
}

func TestDemoHTML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.html")
	r := mustRun(t, exitOK, "", "demo", "-html", path)
	if !strings.Contains(r.stderr, path) {
		t.Errorf("stderr %q", r.stderr)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"mode":"static"`, `"path":"/par"`, `"verdict":"refused"`, `"check":"replay"`, "<svg"} {
		if want == "<svg" {
			want = "createElementNS" // drawn by the script
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("the report lacks %s", want)
		}
	}
}
