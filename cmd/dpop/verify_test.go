package main

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
)

// rfcArgs returns the arguments verifying the RFC example proof as the
// token request it was made for, at a time it is valid, with extra
// arguments inserted before the proof.
func rfcArgs(extra ...string) []string {
	args := []string{"verify", "-now", rfcNow, "-method", "POST", "-url", rfcURL}
	args = append(args, extra...)
	return append(args, rfcProof)
}

// wantError checks that obj is a rejection with the given code and nothing
// but the rejection members.
func wantError(t *testing.T, obj map[string]any, code string) {
	t.Helper()
	if obj["error"] != code {
		t.Errorf("error = %v, want %s (%v)", obj["error"], code, obj)
	}
	if d, _ := obj["error_description"].(string); d == "" {
		t.Errorf("no error_description in %v", obj)
	}
	for k := range obj {
		switch k {
		case "error", "error_description", "dpop_nonce", "check", "expected", "got":
			continue
		}
		{
			t.Errorf("unexpected member %q in a rejection: %v", k, obj)
		}
	}
}

func TestVerifyRFCExample(t *testing.T) {
	r := mustRun(t, exitOK, "", rfcArgs()...)
	if r.stderr != "" {
		t.Errorf("stderr = %q", r.stderr)
	}
	got := decodeOne(t, r.stdout)
	want := map[string]any{
		"valid": true,
		"alg":   "ES256",
		"jkt":   rfcJKT,
		"jti":   rfcJTI,
		"htm":   "POST",
		"htu":   rfcURL,
		"iat":   json.Number("1562262616"),
	}
	if !maps.Equal(got, want) {
		t.Errorf("result = %v\nwant %v", got, want)
	}
	// The members come in the documented order, iat as a plain number.
	const prefix = `{"valid":true,"alg":"ES256","jkt":"` + rfcJKT + `","jti":"` + rfcJTI +
		`","htm":"POST","htu":"` + rfcURL + `","iat":1562262616}` + "\n"
	if r.stdout != prefix {
		t.Errorf("stdout = %s, want %s", r.stdout, prefix)
	}
}

func TestVerifyRFCExampleFlagsAfterProof(t *testing.T) {
	r := mustRun(t, exitOK, "", "verify", rfcProof, "-method", "POST", "-url", rfcURL, "-now", rfcNow)
	if obj := decodeOne(t, r.stdout); obj["jkt"] != rfcJKT {
		t.Errorf("result = %v", obj)
	}
}

func TestVerifyRFCExampleRejected(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code string
	}{
		{"wrong method", []string{"verify", "-now", rfcNow, "-method", "GET", "-url", rfcURL, rfcProof}, dpop.CodeInvalidProof},
		{"wrong url", []string{"verify", "-now", rfcNow, "-method", "POST", "-url", "https://server.example.com/other", rfcProof}, dpop.CodeInvalidProof},
		{"algs ES384", rfcArgs("-algs", "ES384"), dpop.CodeInvalidProof},
		{"algs EdDSA,PS256", rfcArgs("-algs", "EdDSA,PS256"), dpop.CodeInvalidProof},
		{"too old with the real clock", []string{"verify", "-method", "POST", "-url", rfcURL, rfcProof}, dpop.CodeInvalidProof},
		{"too old for max-age", []string{"verify", "-now", "1562262700", "-max-age", "30s", "-method", "POST", "-url", rfcURL, rfcProof}, dpop.CodeInvalidProof},
		{"in the future without leeway", []string{"verify", "-now", "1562262615", "-leeway", "0s", "-method", "POST", "-url", rfcURL, rfcProof}, dpop.CodeInvalidProof},
		{"access token without ath", rfcArgs("-access-token", "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"), dpop.CodeInvalidProof},
		{"bound to another key", rfcArgs("-jkt", strings.Repeat("A", 43)), dpop.CodeInvalidToken},
		{"tampered signature", []string{"verify", "-now", rfcNow, "-method", "POST", "-url", rfcURL, rfcProof[:len(rfcProof)-2] + "Lh"}, dpop.CodeInvalidProof},
		{"not a JWS", []string{"verify", "-now", rfcNow, "-method", "POST", "-url", rfcURL, "not.a.proof!"}, dpop.CodeInvalidProof},
		{"empty proof", []string{"verify", "-now", rfcNow, "-method", "POST", "-url", rfcURL, ""}, dpop.CodeInvalidProof},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRun(t, exitFail, "", tc.args...)
			wantError(t, decodeOne(t, r.stdout), tc.code)
		})
	}
}

func TestVerifyRFCExampleChecks(t *testing.T) {
	// With a frozen clock the example passes with its own checks satisfied:
	// the right thumbprint as binding, and leeway 0 at iat itself.
	mustRun(t, exitOK, "", rfcArgs("-jkt", rfcJKT)...)
	mustRun(t, exitOK, "", "verify", "-now", "1562262616", "-leeway", "0s", "-method", "POST", "-url", rfcURL, rfcProof)
	mustRun(t, exitOK, "", rfcArgs("-algs", "ES256")...)
	// The URL is compared in normal form.
	mustRun(t, exitOK, "", "verify", "-now", rfcNow, "-method", "POST", "-url", "HTTPS://Server.Example.COM:443/token?x=1", rfcProof)
}

func TestVerifyNonceRequired(t *testing.T) {
	r := mustRun(t, exitFail, "", rfcArgs("-nonce", "abc")...)
	obj := decodeOne(t, r.stdout)
	wantError(t, obj, dpop.CodeUseNonce)
	if obj["dpop_nonce"] != "abc" {
		t.Errorf("dpop_nonce = %v, want abc", obj["dpop_nonce"])
	}
	// Other rejections carry no dpop_nonce member.
	r = mustRun(t, exitFail, "", "verify", "-now", rfcNow, "-method", "GET", "-url", rfcURL, rfcProof)
	if strings.Contains(r.stdout, "dpop_nonce") {
		t.Errorf("stdout = %s, want no dpop_nonce", r.stdout)
	}
}

func TestVerifyStdinReplay(t *testing.T) {
	stdin := rfcProof + "\n" + rfcProof + "\n"
	r := mustRun(t, exitFail, stdin, "verify", "-now", rfcNow, "-method", "POST", "-url", rfcURL, "-")
	objs := decodeLines(t, r.stdout)
	if len(objs) != 2 {
		t.Fatalf("got %d results, want 2:\n%s", len(objs), r.stdout)
	}
	if objs[0]["valid"] != true || objs[0]["jti"] != rfcJTI {
		t.Errorf("first line: %v, want valid", objs[0])
	}
	wantError(t, objs[1], dpop.CodeInvalidProof)
	if d, _ := objs[1]["error_description"].(string); !strings.Contains(d, "already used") {
		t.Errorf("second line: %v, want a replay rejection", objs[1])
	}
}

func TestVerifyStdinLines(t *testing.T) {
	long := strings.Repeat("A", maxInput+1)
	stdin := strings.Join([]string{
		"",
		"  " + rfcProof + "\r", // CR LF line ending and surrounding spaces
		"",
		"\t",
		long, // longer than the cap: rejected, not fatal
		"garbage",
		rfcProof, // a replay
	}, "\n") + "\n\n" + long + long // an over-long last line without a newline
	r := mustRun(t, exitFail, stdin, "verify", "-now", rfcNow, "-method", "POST", "-url", rfcURL, "-")
	objs := decodeLines(t, r.stdout)
	if len(objs) != 5 {
		t.Fatalf("got %d results, want 5:\n%s", len(objs), r.stdout)
	}
	if objs[0]["valid"] != true {
		t.Errorf("line 1: %v, want valid", objs[0])
	}
	for i, obj := range objs[1:] {
		wantError(t, obj, dpop.CodeInvalidProof)
		if i == 0 || i == 3 {
			if obj["error_description"] != "DPoP proof too large" {
				t.Errorf("result %d: %v, want a too-large rejection", i+2, obj)
			}
		}
	}
	if n := strings.Count(r.stderr, "dpop verify: rejected: invalid_dpop_proof"); n != 4 {
		t.Errorf("stderr explains %d rejections, want 4: %q", n, r.stderr)
	}
	r = mustRun(t, exitFail, stdin, "verify", "-q", "-now", rfcNow, "-method", "POST", "-url", rfcURL, "-")
	if r.stderr != "" {
		t.Errorf("-q: stderr = %q", r.stderr)
	}
}

// TestVerifyExplainsRejection: a rejection names the failed check with
// the values compared, on stderr and in the JSON, whenever the verifier
// gives them.
func TestVerifyExplainsRejection(t *testing.T) {
	r := mustRun(t, exitFail, "", "verify", "-json", "-now", rfcNow, "-method", "POST", "-url", "https://server.example.com/other", rfcProof)
	obj := decodeOne(t, r.stdout)
	wantError(t, obj, dpop.CodeInvalidProof)
	if !strings.HasPrefix(r.stderr, "dpop verify: rejected: invalid_dpop_proof: ") {
		t.Errorf("stderr = %q", r.stderr)
	}
	if obj["check"] != nil {
		if obj["check"] != "htu" || obj["expected"] != "https://server.example.com/other" || obj["got"] != rfcURL {
			t.Errorf("evidence = %v", obj)
		}
		for _, want := range []string{"check    htu", "expected https://server.example.com/other", "got      " + rfcURL} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q: %q", want, r.stderr)
			}
		}
	}
}

func TestVerifyStdinAllValid(t *testing.T) {
	// Without a rejection the status is 0, and blank input prints nothing.
	r := mustRun(t, exitOK, rfcProof, "verify", "-now", rfcNow, "-method", "POST", "-url", rfcURL, "-")
	if objs := decodeLines(t, r.stdout); len(objs) != 1 || objs[0]["valid"] != true {
		t.Errorf("stdout = %s", r.stdout)
	}
	r = mustRun(t, exitOK, "\n\n", "verify", "-now", rfcNow, "-method", "POST", "-url", rfcURL, "-")
	if r.stdout != "" {
		t.Errorf("blank input gave %q", r.stdout)
	}
}

func TestEachLine(t *testing.T) {
	type line struct {
		text    string
		tooLong bool
	}
	const max = 4
	tests := []struct {
		in   string
		want []line
	}{
		{"", nil},
		{"abcd", []line{{"abcd", false}}},
		{"abcd\r\nab\n\nx", []line{{"abcd", false}, {"ab", false}, {"x", false}}},
		{"abcde\nab", []line{{"", true}, {"ab", false}}},
		{"abcdefghijklmnopqrstuvwxyz\nab\n", []line{{"", true}, {"ab", false}}},
		{"ab\nabcdefghijklmnopqrstuvwxyz", []line{{"ab", false}, {"", true}}},
	}
	for _, tc := range tests {
		var got []line
		err := eachLine(strings.NewReader(tc.in), max, func(b []byte, tooLong bool) error {
			got = append(got, line{string(b), tooLong})
			return nil
		})
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("eachLine(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestUnixNumber(t *testing.T) {
	tests := []struct {
		sec, nsec int64
		want      json.Number
	}{
		{1562262616, 0, "1562262616"},
		{1562262616, 500_000_000, "1562262616.5"},
		{1562262616, 1, "1562262616.000000001"},
		{0, 0, "0"},
	}
	for _, tc := range tests {
		if got := unixNumber(time.Unix(tc.sec, tc.nsec)); got != tc.want {
			t.Errorf("unixNumber(%d, %d) = %s, want %s", tc.sec, tc.nsec, got, tc.want)
		}
	}
}
