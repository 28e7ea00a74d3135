package inspect

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
)

// The example proof of RFC 9449 §4.1 (Figure 4) and its key's thumbprint.
const (
	rfcProof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19" +
		".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ" +
		".2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
	rfcJKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	rfcURL = "https://server.example.com/token"
)

var rfcNow = time.Unix(1562262628, 0) // 12 s after the proof's iat

func check(t *testing.T, r *Report, name string) Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s check in %+v", name, r.Checks)
	return Check{}
}

func TestProofDecoded(t *testing.T) {
	r, err := Inspect(context.Background(), []byte(" DPoP: "+rfcProof+"\n"), Options{Now: rfcNow})
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindProof || r.JKT != rfcJKT || r.Failed() || r.Verdict != nil {
		t.Fatalf("report %+v", r)
	}
	if len(r.Times) != 1 || r.Times[0].Relative != "12 s ago" || r.Times[0].UTC != "2019-07-04T17:50:16Z" {
		t.Errorf("times %+v", r.Times)
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DPoP proof", "htu  https://server.example.com/token", "2019-07-04T17:50:16Z, 12 s ago", "thumbprint " + rfcJKT, "✓ passed  signature"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
}

// TestProofChecks: against a request, each check is reported passed or
// failed with what was expected and what came, and the verifier agrees.
func TestProofChecks(t *testing.T) {
	ctx := context.Background()
	r, err := Inspect(ctx, []byte(rfcProof), Options{Now: rfcNow, Method: "POST", URL: "HTTPS://server.example.com:443/token?x"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed() || !r.Verdict.Valid {
		t.Fatalf("a matching request failed: %+v %+v", r.Checks, r.Verdict)
	}
	for _, name := range []string{"typ", "alg", "jwk", "signature", "htm", "htu", "iat"} {
		if c := check(t, r, name); !c.Passed {
			t.Errorf("%s failed: %+v", name, c)
		}
	}

	other := "https://server.example.com/other"
	token := "some.access.token"
	r, err = Inspect(ctx, []byte(rfcProof), Options{
		Now: rfcNow.Add(time.Hour), Method: "GET", URL: other, AccessToken: token, JKT: "x" + rfcJKT[1:], Nonce: "n-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"htm":   {"GET", "POST"},
		"htu":   {other, rfcURL},
		"ath":   {dpop.AccessTokenHash(token), ""},
		"jkt":   {"x" + rfcJKT[1:], rfcJKT},
		"nonce": {"n-1", ""},
	}
	for name, eg := range want {
		c := check(t, r, name)
		if c.Passed || c.Expected != eg[0] || c.Got != eg[1] {
			t.Errorf("%s: %+v, want failed with expected %q got %q", name, c, eg[0], eg[1])
		}
	}
	if c := check(t, r, "iat"); c.Passed || !strings.Contains(c.Got, "1 h ago") {
		t.Errorf("iat: %+v", c)
	}
	if c := check(t, r, "signature"); !c.Passed {
		t.Errorf("signature: %+v", c)
	}
	if r.Verdict == nil || r.Verdict.Valid || r.Verdict.Error != dpop.CodeInvalidProof || !r.Failed() {
		t.Errorf("verdict %+v", r.Verdict)
	}
}

// TestProofHTUQuery: an htu with a query or fragment fails the htu check,
// as the verifier refuses it, even when the rest matches the request.
func TestProofHTUQuery(t *testing.T) {
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		t.Fatal(err)
	}
	for _, htu := range []string{rfcURL + "?x=1", rfcURL + "#f"} {
		proof := jwt(t, map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": json.RawMessage(key.PublicJWK())},
			map[string]any{"jti": "j", "htm": "POST", "htu": htu, "iat": rfcNow.Unix()})
		r, err := Inspect(context.Background(), []byte(proof), Options{Now: rfcNow, Method: "POST", URL: rfcURL})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range r.Checks {
			if c.Name == "htu" {
				n++
				if c.Passed || c.Expected != rfcURL || c.Got != htu {
					t.Errorf("htu %q: %+v, want failed with expected %q got %q", htu, c, rfcURL, htu)
				}
			}
		}
		if n != 1 || !r.Failed() {
			t.Errorf("htu %q: %d htu checks, failed %v: %+v", htu, n, r.Failed(), r.Checks)
		}
	}
}

func TestTamperedSignature(t *testing.T) {
	r, err := Inspect(context.Background(), []byte(rfcProof[:len(rfcProof)-2]+"Lh"), Options{Now: rfcNow})
	if err != nil {
		t.Fatal(err)
	}
	if c := check(t, r, "signature"); c.Passed {
		t.Errorf("tampered signature passed: %+v", c)
	}
	if !r.Failed() {
		t.Error("not failed")
	}
}

func jwt(t *testing.T, header, claims any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + ".c2ln"
}

func TestAccessToken(t *testing.T) {
	now := time.Unix(1700000000, 0)
	tok := jwt(t, map[string]any{"typ": "at+jwt", "alg": "ES256", "kid": "k1"},
		map[string]any{"iss": "https://as.example", "sub": "alice", "aud": "https://rs.example", "iat": 1699999990, "exp": 1699999999, "cnf": map[string]string{"jkt": rfcJKT}})
	r, err := Inspect(context.Background(), []byte("Bearer "+tok), Options{Now: now, JKT: rfcJKT})
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindJWT || r.CnfJKT != rfcJKT || !strings.Contains(r.Summary, "RFC 9068") {
		t.Fatalf("%+v", r)
	}
	if c := check(t, r, "exp"); c.Passed || !strings.Contains(c.Got, "1 s ago") {
		t.Errorf("exp: %+v", c)
	}
	if c := check(t, r, "jkt"); !c.Passed {
		t.Errorf("jkt: %+v", c)
	}
	// A proof checked with the token: its key against the token's cnf.jkt.
	r, err = Inspect(context.Background(), []byte(rfcProof), Options{Now: rfcNow, Method: "POST", URL: rfcURL, AccessToken: tok})
	if err != nil {
		t.Fatal(err)
	}
	if c := check(t, r, "jkt"); !c.Passed || c.Expected != rfcJKT {
		t.Errorf("jkt from the token: %+v", c)
	}
	if c := check(t, r, "ath"); c.Passed {
		t.Errorf("ath: %+v", c)
	}
}

func TestSession(t *testing.T) {
	k, _ := dpop.GenerateKey(dpop.ES256)
	jwk, _ := k.MarshalPrivateJWK()
	now := time.Unix(1700000000, 0)
	tok := jwt(t, map[string]any{"typ": "at+jwt", "alg": "ES256"}, map[string]any{"sub": "alice", "exp": 1700000060, "cnf": map[string]string{"jkt": k.Thumbprint()}})
	s, _ := json.Marshal(map[string]any{
		"version": 1, "jkt": k.Thumbprint(), "private_jwk": json.RawMessage(jwk),
		"token":        map[string]any{"access_token": tok, "token_type": "DPoP", "refresh_token": "secret-refresh", "expiry": now.Add(time.Minute)},
		"nonces":       map[string]string{"https://as.example": "n1"},
		"oauth_client": map[string]any{"issuer": "https://as.example", "client_id": "c", "client_secret": "hush"},
	})
	r, err := Inspect(context.Background(), s, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindSession || r.JKT != k.Thumbprint() || r.Failed() || r.Token == nil || r.Token.CnfJKT != k.Thumbprint() {
		t.Fatalf("%+v", r)
	}
	out, _ := json.Marshal(r)
	var b strings.Builder
	_ = r.WriteText(&b)
	for _, secret := range []string{"secret-refresh", "hush", `"d"`, tok} {
		if strings.Contains(string(out), secret) || strings.Contains(b.String(), secret) {
			t.Errorf("the report shows the secret %q", secret)
		}
	}
	if c := check(t, r, "expiry"); !c.Passed || c.Got != "in 1 min" {
		t.Errorf("expiry: %+v", c)
	}
}

func TestKeys(t *testing.T) {
	k, _ := dpop.GenerateKey(dpop.ES256)
	jwk, _ := k.MarshalPrivateJWK()
	ctx := context.Background()
	r, err := Inspect(ctx, jwk, Options{})
	if err != nil || r.Kind != KindJWK || r.JKT != k.Thumbprint() || r.Failed() {
		t.Fatalf("%+v %v", r, err)
	}
	for _, f := range r.Header {
		if f.Name == "d" {
			t.Error("the private member d is shown")
		}
	}
	r, err = Inspect(ctx, []byte(`{"keys":[`+string(k.PublicJWK())+`]}`), Options{})
	if err != nil || r.Kind != KindJWKSet || len(r.Keys) != 1 || r.Keys[0].JKT != k.Thumbprint() {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestGarbage(t *testing.T) {
	for in, want := range map[string]string{
		"":                                       "it is empty",
		"hello":                                  "5 bytes of text",
		"a.b":                                    "two dot-separated parts",
		"a.b.c":                                  "3 dot-separated parts",
		`{"hello":1}`:                            "members hello",
		"eyJhIjoxfQ.bm90IGpzb24.":                "payload is not a JSON object",
		"-----BEGIN X-----\nAA\n-----END X-----": "PEM, but not a key",
		strings.Repeat("a", MaxInput+1):          "more than",
	} {
		_, err := Inspect(context.Background(), []byte(in), Options{})
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "expected a DPoP proof") {
			t.Errorf("Inspect(%.20q) = %v, want an InputError with %q", in, err, want)
		}
	}
}

func TestRelative(t *testing.T) {
	now := time.Unix(1700000000, 0)
	for d, want := range map[time.Duration]string{
		0: "now", 12 * time.Second: "12 s ago", -4 * time.Minute: "in 4 min", 3 * time.Hour: "3 h ago",
		-72 * time.Hour: "in 3 days", 7 * 366 * 24 * time.Hour: "7 years ago",
	} {
		if got := Relative(now.Add(-d), now); got != want {
			t.Errorf("Relative(-%v) = %q, want %q", d, got, want)
		}
	}
}

// FuzzInspect: any input gives a report or an InputError, never a panic,
// and the report can be written.
func FuzzInspect(f *testing.F) {
	f.Add([]byte(rfcProof), "POST", rfcURL)
	f.Add([]byte(`{"keys":[{"kty":"EC"}]}`), "", "")
	f.Add([]byte(`{"version":1,"token":{"access_token":"a.b.c"}}`), "GET", "https://x/")
	f.Add([]byte("eyJhbGciOiJub25lIn0.e30."), "", "")
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"AA"}`), "", "")
	f.Fuzz(func(t *testing.T, data []byte, method, url string) {
		r, err := Inspect(context.Background(), data, Options{Method: method, URL: url, Now: rfcNow})
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an InputError", err)
			}
			return
		}
		var b strings.Builder
		if err := r.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatal(err)
		}
	})
}
