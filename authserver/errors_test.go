package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/testkit"
)

// TestWriteError pins the RFC 6749 §5.2 responses: status, exact body,
// Content-Type, Cache-Control and DPoP-Nonce (AS-5-01, AS-8-02, AS-8-05,
// ALL-8.2-01).
func TestWriteError(t *testing.T) {
	proofErr := func(t *testing.T, v dpop.VerifierOptions, p string, req dpop.Request) error {
		t.Helper()
		ver, err := dpop.NewVerifier(v)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ver.Verify(context.Background(), p, req)
		if err == nil {
			t.Fatal("proof accepted")
		}
		return err
	}
	k := testkit.KeyAlg(t, dpop.ES256)
	other := testkit.KeyAlg(t, dpop.ES256)

	cases := []struct {
		name   string
		err    func(t *testing.T) error
		status int
		body   string
		nonce  bool
	}{
		{"invalid_dpop_proof", func(*testing.T) error {
			return NewError(400, "invalid_dpop_proof", "htu does not match the request URI", nil)
		}, 400, `{"error":"invalid_dpop_proof","error_description":"htu does not match the request URI"}`, false},
		{"use_dpop_nonce with nonce", func(*testing.T) error {
			return withNonce(NewError(400, "use_dpop_nonce", descNonceRequired, nil), "eyJ7S_zG.eyJH0-Z.HX4w-7v")
		}, 400, `{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof"}`, true},
		{"invalid_grant", func(*testing.T) error {
			return NewError(400, "invalid_grant", descGrantKeyMismatch, nil)
		}, 400, `{"error":"invalid_grant","error_description":"grant is bound to another DPoP key"}`, false},
		{"temporarily_unavailable is 503", func(*testing.T) error {
			return NewError(503, "temporarily_unavailable", "", nil)
		}, 503, `{"error":"temporarily_unavailable"}`, false},
		{"wrapped *Error", func(*testing.T) error {
			return fmt.Errorf("token endpoint: %w", NewError(400, "invalid_grant", "", nil))
		}, 400, `{"error":"invalid_grant"}`, false},
		{"missing status, temporarily_unavailable: 503", func(*testing.T) error {
			return NewError(0, "temporarily_unavailable", "", nil)
		}, 503, `{"error":"temporarily_unavailable"}`, false},
		{"missing status is 400", func(*testing.T) error {
			return NewError(0, "invalid_request", "", nil)
		}, 400, `{"error":"invalid_request"}`, false},
		{"description cleaned", func(*testing.T) error {
			return NewError(400, "invalid_request", "bad \"x\"\\\n\u00e9", nil)
		}, 400, `{"error":"invalid_request","error_description":"bad x"}`, false},
		{"code not an OAuth code", func(*testing.T) error {
			return NewError(400, "bad code", "", nil)
		}, 400, `{"error":"server_error"}`, false},
		{"nonce that is not NQCHAR is dropped", func(*testing.T) error {
			return withNonce(NewError(400, "use_dpop_nonce", "", nil), "a b")
		}, 400, `{"error":"use_dpop_nonce"}`, false},
		{"plain error is 500 server_error, no details", func(*testing.T) error {
			return errors.New("database password is hunter2")
		}, 500, `{"error":"server_error"}`, false},
		{"raw *dpop.Error: proof failure", func(t *testing.T) error {
			return proofErr(t, dpop.VerifierOptions{}, testkit.Proof(t, k, "GET", testTokenURL), dpop.Request{Method: "POST", URL: testTokenURL})
		}, 400, `{"error":"invalid_dpop_proof","error_description":"htm does not match the request method"}`, false},
		{"raw *dpop.Error: written as it is, no endpoint's wording guessed", func(t *testing.T) error {
			return proofErr(t, dpop.VerifierOptions{}, testkit.Proof(t, k, "POST", testTokenURL), dpop.Request{Method: "POST", URL: testTokenURL, BoundKey: other.Thumbprint()})
		}, 400, `{"error":"invalid_token","error_description":"Invalid DPoP key binding"}`, false},
		{"raw *dpop.Error: nonce", func(t *testing.T) error {
			return proofErr(t, dpop.VerifierOptions{Nonces: nonceSource(t, "as")}, testkit.Proof(t, k, "POST", testTokenURL), dpop.Request{Method: "POST", URL: testTokenURL})
		}, 400, `{"error":"use_dpop_nonce","error_description":"nonce is required"}`, true},
		{"raw *dpop.Error: store down", func(t *testing.T) error {
			return proofErr(t, dpop.VerifierOptions{Replay: testkit.FailingStore{}}, testkit.Proof(t, k, "POST", testTokenURL), dpop.Request{Method: "POST", URL: testTokenURL})
		}, 503, `{"error":"temporarily_unavailable","error_description":"DPoP replay check unavailable"}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteError(w, tc.err(t))
			if w.Code != tc.status {
				t.Errorf("status %d, want %d", w.Code, tc.status)
			}
			if got := w.Body.String(); got != tc.body {
				t.Errorf("body %s\nwant %s", got, tc.body)
			}
			if got := w.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
			if got := w.Header().Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
				t.Errorf("Cache-Control %q", got)
			}
			if n := w.Header().Values("DPoP-Nonce"); (len(n) == 1) != tc.nonce || len(n) > 1 {
				t.Errorf("DPoP-Nonce %q, want one: %v", n, tc.nonce)
			}
		})
	}
}

// TestWriteErrorKeepsNonce: an error without a nonce leaves a DPoP-Nonce
// the handler set (AS-8-07 allows a nonce on any error).
func TestWriteErrorKeepsNonce(t *testing.T) {
	w := httptest.NewRecorder()
	WriteNonce(w, "n-1")
	WriteError(w, NewError(400, "invalid_dpop_proof", "", nil))
	if n := w.Header().Values("DPoP-Nonce"); len(n) != 1 || n[0] != "n-1" {
		t.Fatalf("DPoP-Nonce %q", n)
	}
}

// TestErrorUnwrap: errors.Is reaches the core sentinel and errors.As the
// core error through an *Error.
func TestErrorUnwrap(t *testing.T) {
	a := newAS(t, dpop.VerifierOptions{}, nil)
	k := testkit.KeyAlg(t, dpop.ES256)
	r := post("/token", nil, testkit.Proof(t, k, "PUT", testTokenURL))
	_, err := a.TokenRequest(r.Context(), r, TokenRequest{})
	var de *dpop.Error
	if !errors.Is(err, dpop.ErrHTMMismatch) || !errors.As(err, &de) || de.Code != dpop.CodeInvalidProof {
		t.Fatalf("%v", err)
	}
	if got := err.Error(); got != "authserver: invalid_dpop_proof: htm does not match the request method" {
		t.Errorf("Error() = %q", got)
	}
	if got := (NewError(0, "invalid_grant", "", nil)).Error(); got != "authserver: invalid_grant" {
		t.Errorf("Error() = %q", got)
	}
}

// TestWriteNonce: a success response carries one DPoP-Nonce and no-store
// (AS-8.2-01, ALL-8.2-01); a value that is not NQCHAR is not sent
// (ALL-8.1-01).
func TestWriteNonce(t *testing.T) {
	w := httptest.NewRecorder()
	w.Header().Add("DPoP-Nonce", "old")
	if !WriteNonce(w, "eyJ7S_zG.eyJbYu3.xQmBj-1") {
		t.Fatal("refused a valid nonce")
	}
	if n := w.Header().Values("DPoP-Nonce"); len(n) != 1 || n[0] != "eyJ7S_zG.eyJbYu3.xQmBj-1" {
		t.Errorf("DPoP-Nonce %q", n)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	for _, bad := range []string{"", "a b", `a"b`, `a\b`, "é"} {
		w := httptest.NewRecorder()
		if WriteNonce(w, bad) || len(w.Header()) != 0 {
			t.Errorf("%q written: %v", bad, w.Header())
		}
	}
}

// TestIssueNonce: the AS hands out its own scope's nonces on success, and
// nothing without a nonce source.
func TestIssueNonce(t *testing.T) {
	src := nonceSource(t, "as")
	a := newAS(t, dpop.VerifierOptions{Nonces: src}, nil)
	w := httptest.NewRecorder()
	if err := a.IssueNonce(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	n := w.Header().Get("DPoP-Nonce")
	if err := src.Check(context.Background(), n); err != nil || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("nonce %q: %v, headers %v", n, err, w.Header())
	}
	if err := nonceSource(t, "rs").Check(context.Background(), n); err == nil {
		t.Error("AS nonce accepted by the rs scope")
	}
	w = httptest.NewRecorder()
	if err := newAS(t, dpop.VerifierOptions{}, nil).IssueNonce(context.Background(), w); err != nil || len(w.Header()) != 0 {
		t.Errorf("without a source: %v, %v", err, w.Header())
	}
}

// TestNew checks the options: required fields, normalised URLs, https
// except on loopback (ALL-2-01).
func TestNew(t *testing.T) {
	v, err := dpop.NewVerifier(dpop.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Verifier: v, TokenURL: "HTTPS://Server.Example.COM:443/a/../token?x#y", PARURL: "https://server.example.com/par"})
	if err != nil || a.TokenURL() != testTokenURL || a.PARURL() != testPARURL {
		t.Fatalf("%v %q %q", err, a.TokenURL(), a.PARURL())
	}
	for _, u := range []string{"http://127.0.0.1:8080/token", "http://localhost/token", "http://[::1]:1/token"} {
		if _, err := New(Options{Verifier: v, TokenURL: u}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for name, o := range map[string]Options{
		"no verifier":    {TokenURL: testTokenURL},
		"no token URL":   {Verifier: v},
		"http token URL": {Verifier: v, TokenURL: "http://server.example.com/token"},
		"http PAR URL":   {Verifier: v, TokenURL: testTokenURL, PARURL: "http://server.example.com/par"},
		"relative URL":   {Verifier: v, TokenURL: "/token"},
		"other scheme":   {Verifier: v, TokenURL: "ftp://server.example.com/token"},
		"userinfo":       {Verifier: v, TokenURL: "https://u:p@server.example.com/token"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// stubNonces is a NonceSource that returns a fixed value or error.
type stubNonces struct {
	nonce string
	err   error
}

func (s stubNonces) Nonce(context.Context) (string, error) { return s.nonce, s.err }
func (s stubNonces) Check(context.Context, string) error   { return s.err }

// TestIssueNonceFailure: a nonce source that cannot answer is a 503
// temporarily_unavailable; one that returns a bad value is not sent.
func TestIssueNonceFailure(t *testing.T) {
	a := newAS(t, dpop.VerifierOptions{Nonces: stubNonces{err: errors.New("down")}}, nil)
	w := httptest.NewRecorder()
	err := a.IssueNonce(context.Background(), w)
	if !errors.Is(err, dpop.ErrStoreUnavailable) {
		t.Fatalf("%v", err)
	}
	WriteError(w, err)
	checkErrorResponse(t, w, 503, "temporarily_unavailable", false)

	a = newAS(t, dpop.VerifierOptions{Nonces: stubNonces{nonce: "a b"}}, nil)
	w = httptest.NewRecorder()
	if err := a.IssueNonce(context.Background(), w); err == nil || w.Header().Get("DPoP-Nonce") != "" {
		t.Fatalf("%v %v", err, w.Header())
	}
}
