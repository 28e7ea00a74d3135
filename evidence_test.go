package dpop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestEvidence runs one refusal per check of RFC 9449 §4.3 (and the size,
// replay and nonce-source checks around them) and asserts the evidence
// the operator gets: the check's name, the value expected and the value
// that came. No access token, proof or private key may appear in it.
func TestEvidence(t *testing.T) {
	now := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	const (
		u     = "https://rs.example.com/api"
		token = "eyJhbGciOiJFUzI1NiJ9.c2VjcmV0LWFjY2Vzcy10b2tlbg.c2ln"
	)
	k := testKey(t, ES256)
	other := testKey(t, EdDSA)
	priv, err := k.MarshalPrivateJWK()
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ D string }
	if err := json.Unmarshal(priv, &d); err != nil || d.D == "" {
		t.Fatal("no private scalar", err)
	}
	secret := bytes.Repeat([]byte{7}, 32)
	nonces, err := NewHMACNonceSource(HMACNonceOptions{Secret: secret, Scope: "rs", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	oldNonces, err := NewHMACNonceSource(HMACNonceOptions{Secret: secret, Scope: "rs", Now: func() time.Time { return now.Add(-10 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	asNonces, err := NewHMACNonceSource(HMACNonceOptions{Secret: secret, Scope: "as", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fresh, _ := nonces.Nonce(ctx)
	stale, _ := oldNonces.Nonce(ctx)
	foreign, _ := asNonces.Nonce(ctx)

	proof := func(method, url string, at time.Time, opts ...ProofOption) string {
		p, err := k.Proof(method, url, append(opts, WithIssuedAt(at))...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	hdr := headerJSON(k)
	good := proof("GET", u, now)
	ath := AccessTokenHash(token)

	cases := []struct {
		name           string
		opts           VerifierOptions
		proof          string
		req            Request
		check          string
		expected, got  string // exact, or a prefix ending in "*"
		code           string
		fromHeaderOnly http.Header
	}{
		{name: "1 one DPoP header", fromHeaderOnly: http.Header{"Dpop": {good, good}},
			check: "header", expected: "one DPoP header field", got: "2 fields"},
		{name: "1 no DPoP header", fromHeaderOnly: http.Header{},
			check: "header", expected: "one DPoP header field", got: "none"},
		{name: "2 compact JWS", proof: "abc.def",
			check: "jws", expected: "three non-empty segments separated by two dots, no CR or LF", got: "2 segments"},
		{name: "2 header JSON", proof: craft(t, k, `{"typ":"dpop+jwt",`, claimsJSON("GET", u, now, "")),
			check: "header", expected: "a JSON object with typ, alg and jwk, each once", got: "malformed JSON or a repeated or mistyped member"},
		{name: "3 required claims", proof: craft(t, k, hdr, `{"htm":"GET","htu":"`+u+`","iat":1796187600}`),
			check: "jti", expected: "a jti claim", got: "absent"},
		{name: "3 claim type", proof: craft(t, k, hdr, `{"jti":"x","htm":7,"htu":"`+u+`","iat":1796187600}`),
			check: "claims", expected: "htm as a string", got: "a number"},
		{name: "4 typ", proof: craft(t, k, strings.Replace(hdr, "dpop+jwt", "JWT", 1), claimsJSON("GET", u, now, "")),
			check: "typ", expected: "dpop+jwt", got: "JWT"},
		{name: "5 alg allowed", opts: VerifierOptions{Algorithms: []Algorithm{EdDSA, PS256}}, proof: good,
			check: "alg", expected: "one of EdDSA, PS256", got: "ES256"},
		{name: "5 alg fits key", proof: craft(t, k, strings.Replace(hdr, `"ES256"`, `"ES384"`, 1), claimsJSON("GET", u, now, "")),
			check: "alg", expected: "a kty EC, crv P-384 key for ES384", got: "kty EC, crv P-256"},
		{name: "6 signature", proof: replaceSegment(good, 2, strings.Repeat("A", 86)),
			check: "signature", expected: "a 64-byte ES256 signature by key " + k.Thumbprint(), got: "a signature of 64 bytes that does not verify"},
		{name: "7 private key in jwk", proof: craft(t, k, `{"typ":"dpop+jwt","alg":"ES256","jwk":`+string(priv)+`}`, claimsJSON("GET", u, now, "")),
			check: "jwk", expected: "public key members only", got: "private or symmetric key members (not logged)"},
		{name: "8 htm", proof: good, req: Request{Method: "POST", URL: u},
			check: "htm", expected: "POST", got: "GET"},
		{name: "9 htu", proof: proof("GET", "https://RS.example.com:443/other", now), req: Request{Method: "GET", URL: "https://rs.example.com/api?q=1"},
			check: "htu", expected: "https://rs.example.com/api", got: "https://rs.example.com/other"},
		{name: "9 htu query", proof: craft(t, k, hdr, claimsJSON("GET", u+"?token=secret", now, "")), req: Request{Method: "GET", URL: u},
			check: "htu", expected: "https://rs.example.com/api", got: "https://rs.example.com/api with a query or fragment"},
		{name: "10 nonce missing", opts: VerifierOptions{Nonces: nonces}, proof: good, code: CodeUseNonce,
			check: "nonce", expected: "a nonce this server issued and still accepts", got: "absent"},
		{name: "10 nonce expired", opts: VerifierOptions{Nonces: nonces}, proof: proof("GET", u, now, WithNonce(stale)), code: CodeUseNonce,
			check: "nonce", expected: "a nonce this server issued and still accepts", got: stale + " (expired: issued 10m0s ago, accepted for 2m0s at most)"},
		{name: "10 nonce scope", opts: VerifierOptions{Nonces: nonces}, proof: proof("GET", u, now, WithNonce(foreign)), code: CodeUseNonce,
			check: "nonce", expected: "a nonce this server issued and still accepts", got: foreign + " (not issued by this source: another scope, or a secret it no longer holds)"},
		{name: "10 nonce malformed", opts: VerifierOptions{Nonces: nonces}, proof: proof("GET", u, now, WithNonce("abc")), code: CodeUseNonce,
			check: "nonce", expected: "a nonce this server issued and still accepts", got: "abc (malformed: not a nonce of this kind of source)"},
		{name: "10 exact nonce", proof: proof("GET", u, now, WithNonce(stale)), req: Request{Method: "GET", URL: u, Nonce: fresh}, code: CodeUseNonce,
			check: "nonce", expected: fresh, got: stale},
		{name: "11 iat too old", proof: proof("GET", u, now.Add(-75*time.Second)),
			check: "iat", expected: "within [now-70s, now+10s] of 2026-12-02T05:00:00Z", got: "2026-12-02T04:58:45Z (75s before now)"},
		{name: "11 iat in the future", proof: proof("GET", u, now.Add(time.Minute)),
			check: "iat", expected: "within [now-70s, now+10s] of 2026-12-02T05:00:00Z", got: "2026-12-02T05:01:00Z (60s after now)"},
		{name: "12 ath missing", proof: good, req: Request{Method: "GET", URL: u, AccessToken: token},
			check: "ath", expected: ath, got: "absent"},
		{name: "12 ath mismatch", proof: proof("GET", u, now, WithAccessToken("other-token")), req: Request{Method: "GET", URL: u, AccessToken: token},
			check: "ath", expected: ath, got: AccessTokenHash("other-token")},
		{name: "13 key binding", proof: good, req: Request{Method: "GET", URL: u, BoundKey: other.Thumbprint()}, code: CodeInvalidToken,
			check: "jkt", expected: other.Thumbprint(), got: k.Thumbprint()},
		{name: "size", opts: VerifierOptions{MaxProofSize: 100}, proof: good,
			check: "size", expected: "at most 100 bytes", got: "*"},
		{name: "replay", proof: "REPLAY",
			check: "replay", expected: "a jti not used before with key " + k.Thumbprint(), got: "jti *"},
		{name: "replay store down", opts: VerifierOptions{Replay: atkFailingStore{}}, proof: good, code: CodeTemporarilyUnavailable,
			check: "replay", expected: "an answer from the replay store", got: "store down"},
		{name: "nonce check down", opts: VerifierOptions{Nonces: atkFailingNonces{}}, proof: proof("GET", u, now, WithNonce(fresh)), code: CodeTemporarilyUnavailable,
			check: "nonce", expected: "an answer from the nonce source", got: "down"},
		{name: "nonce source down", opts: VerifierOptions{Nonces: atkFailingNonces{}}, proof: good, code: CodeTemporarilyUnavailable,
			check: "nonce", expected: "an answer from the nonce source", got: "down"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.fromHeaderOnly != nil {
				_, err = ProofFromHeader(tc.fromHeaderOnly)
			} else {
				tc.opts.Now = clock
				v, verr := NewVerifier(tc.opts)
				if verr != nil {
					t.Fatal(verr)
				}
				if tc.req.Method == "" {
					tc.req.Method, tc.req.URL = "GET", u
				}
				p := tc.proof
				if p == "REPLAY" {
					p = proof("GET", u, now)
					if _, err := v.Verify(ctx, p, tc.req); err != nil {
						t.Fatal(err)
					}
				}
				_, err = v.Verify(ctx, p, tc.req)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			code := tc.code
			if code == "" {
				code = CodeInvalidProof
			}
			if e.Code != code {
				t.Errorf("Code = %q, want %q", e.Code, code)
			}
			if e.Check != tc.check {
				t.Errorf("Check = %q, want %q", e.Check, tc.check)
			}
			match := func(what, got, want string) {
				if p, ok := strings.CutSuffix(want, "*"); ok {
					if !strings.HasPrefix(got, p) || got == "" {
						t.Errorf("%s = %q, want prefix %q", what, got, p)
					}
				} else if got != want {
					t.Errorf("%s = %q\n want %q", what, got, want)
				}
			}
			match("Expected", e.Expected, tc.expected)
			match("Got", e.Got, tc.got)
			// What a log would hold.
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("refused", "err", e)
			logged := buf.String()
			for _, secret := range []string{token, d.D, tc.proof} {
				if secret != "" && secret != "REPLAY" && strings.Contains(logged, secret) {
					t.Errorf("log holds a secret %.20q...: %s", secret, logged)
				}
			}
			if !strings.Contains(logged, `"check":"`+tc.check+`"`) {
				t.Errorf("log lacks the check: %s", logged)
			}
			if strings.Contains(e.Description, e.Got) && e.Got != "" && len(e.Got) > 8 {
				t.Errorf("description %q repeats the evidence", e.Description)
			}
		})
	}
}

// TestEvidenceClip: values taken from the request are copied, cut and
// made printable before they go into evidence.
func TestEvidenceClip(t *testing.T) {
	long := strings.Repeat("a", 100)
	if got := clip(long); got != strings.Repeat("a", 64)+"..." {
		t.Errorf("clip(long) = %q", got)
	}
	if got := clip("a\x00b\né"); got != "a?b???" {
		t.Errorf("clip = %q", got)
	}
	if got := clipOrAbsent("", false); got != "absent" {
		t.Errorf("clipOrAbsent = %q", got)
	}
}

func TestHMACNonceExplain(t *testing.T) {
	now := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	secret := bytes.Repeat([]byte{9}, 32)
	mk := func(at time.Time, scope string) *HMACNonceSource {
		s, err := NewHMACNonceSource(HMACNonceOptions{Secret: secret, Scope: scope, Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := mk(now, "rs")
	var _ NonceExplainer = s
	ctx := context.Background()
	n, _ := s.Nonce(ctx)
	future, _ := mk(now.Add(5*time.Minute), "rs").Nonce(ctx)
	for _, tc := range []struct{ nonce, want string }{
		{n, "valid"},
		{future, "issued in the future: step starting 2026-12-02T05:05:00Z, clocks differ between servers?"},
		{strings.Repeat("A", 30), "malformed: not a nonce of this kind of source"},
	} {
		if got := s.Explain(tc.nonce); got != tc.want {
			t.Errorf("Explain(%q) = %q, want %q", tc.nonce, got, tc.want)
		}
		// Check's answers are unchanged: nil or ErrNonceInvalid.
		if err := s.Check(ctx, tc.nonce); (tc.want == "valid") != (err == nil) || err != nil && !errors.Is(err, ErrNonceInvalid) {
			t.Errorf("Check(%q) = %v", tc.nonce, err)
		}
	}
}
