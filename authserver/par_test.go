package authserver

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/testkit"
)

// TestPARRequest covers RFC 9449 §10.1 at the PAR endpoint (A6 in
// docs/conformance.md).
func TestPARRequest(t *testing.T) {
	ctx := context.Background()
	kA := testkit.KeyAlg(t, dpop.ES256)
	kB := testkit.KeyAlg(t, dpop.ES256)
	asNonces := nonceSource(t, "as")
	jkt := map[string]string{"": "", "A": kA.Thumbprint(), "B": kB.Thumbprint()}
	proofA := func() []string { return []string{testkit.Proof(t, kA, "POST", testPARURL)} }

	cases := []struct {
		name      string
		nonces    bool
		dpopJKT   []string // dpop_jkt values in the body
		proofs    func() []string
		status    int
		code      string
		wantNonce bool
		is        error
		want      string // "A", "B" or ""
	}{
		{name: "P-01/neither: unbound", proofs: func() []string { return nil }, status: 201},
		{name: "AS-10.1-03/dpop_jkt alone", dpopJKT: []string{jkt["B"]}, proofs: func() []string { return nil }, status: 201, want: "B"},
		{name: "AS-10.1-02/proof alone binds the request", proofs: proofA, status: 201, want: "A"},
		{name: "AS-10.1-04/both, same key", dpopJKT: []string{jkt["A"]}, proofs: proofA, status: 201, want: "A"},
		{name: "AS-10.1-04/both, different keys", dpopJKT: []string{jkt["B"]}, proofs: proofA,
			status: 400, code: "invalid_dpop_proof", is: dpop.ErrKeyMismatch},
		{name: "AS-10.1-01/htu of the token endpoint", proofs: func() []string { return []string{testkit.Proof(t, kA, "POST", testTokenURL)} },
			status: 400, code: "invalid_dpop_proof", is: dpop.ErrHTUMismatch},
		{name: "AS-10.1-01/htm GET", proofs: func() []string { return []string{testkit.Proof(t, kA, "GET", testPARURL)} },
			status: 400, code: "invalid_dpop_proof", is: dpop.ErrHTMMismatch},
		{name: "AS-10.1-01/two DPoP fields", proofs: func() []string { return append(proofA(), proofA()...) },
			status: 400, code: "invalid_dpop_proof", is: dpop.ErrMultipleProofs},
		{name: "AS-10.1-01/garbage", proofs: func() []string { return []string{"a.b"} },
			status: 400, code: "invalid_dpop_proof", is: dpop.ErrMalformed},
		{name: "A6/nonce required at PAR", nonces: true, proofs: proofA,
			status: 400, code: "use_dpop_nonce", wantNonce: true, is: dpop.ErrNonceRequired},
		{name: "A6/nonce given", nonces: true, proofs: func() []string {
			n, _ := asNonces.Nonce(ctx)
			return []string{testkit.Proof(t, kA, "POST", testPARURL, dpop.WithNonce(n))}
		}, status: 201, want: "A"},
		{name: "A6/no proof needs no nonce", nonces: true, dpopJKT: []string{jkt["A"]}, proofs: func() []string { return nil }, status: 201, want: "A"},
		{name: "dpop_jkt malformed", dpopJKT: []string{"abc"}, proofs: proofA,
			status: 400, code: "invalid_request", is: ErrInvalidJKT},
		{name: "dpop_jkt twice", dpopJKT: []string{jkt["A"], jkt["A"]}, proofs: proofA,
			status: 400, code: "invalid_request", is: ErrInvalidJKT},
		{name: "dpop_jkt empty", dpopJKT: []string{""}, proofs: proofA,
			status: 400, code: "invalid_request", is: ErrInvalidJKT},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vo := dpop.VerifierOptions{}
			if tc.nonces {
				vo.Nonces = asNonces
			}
			a := newAS(t, vo, nil)
			form := url.Values{"response_type": {"code"}, "client_id": {"c"}}
			if tc.dpopJKT != nil {
				form["dpop_jkt"] = tc.dpopJKT
			}
			w, got, err := servePAR(a, post("/par", form, tc.proofs()...))
			if tc.code != "" {
				checkErrorResponse(t, w, tc.status, tc.code, tc.wantNonce)
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("error %v does not wrap %v", err, tc.is)
				}
				return
			}
			if err != nil || w.Code != tc.status {
				t.Fatalf("status %d, err %v", w.Code, err)
			}
			if got != jkt[tc.want] {
				t.Errorf("jkt %q, want %q", got, jkt[tc.want])
			}
		})
	}
}

// TestPARNotConfigured: without a PAR URL there is nothing to check htu
// against, so every call fails.
func TestPARNotConfigured(t *testing.T) {
	a := newAS(t, dpop.VerifierOptions{}, func(o *Options) { o.PARURL = "" })
	_, err := a.PARRequest(context.Background(), post("/par", nil), url.Values{})
	if !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("error %v", err)
	}
}

// TestAuthorizationJKT reads dpop_jkt from the RFC 9449 Figure 25
// authorization request (AS-10-01) and refuses bad values.
func TestAuthorizationJKT(t *testing.T) {
	const fig25 = "response_type=code&client_id=s6BhdRkqt3&state=xyz&redirect_uri=https%3A%2F%2Fclient%2Eexample%2Ecom%2Fcb&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&dpop_jkt=NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	q, err := url.ParseQuery(fig25)
	if err != nil {
		t.Fatal(err)
	}
	got, err := AuthorizationJKT(q)
	if err != nil || got != rfcDPoPJKT {
		t.Fatalf("%q, %v", got, err)
	}
	if got, err := AuthorizationJKT(url.Values{"client_id": {"x"}}); got != "" || err != nil {
		t.Errorf("absent: %q, %v", got, err)
	}
	for _, bad := range []url.Values{
		{"dpop_jkt": {rfcJKT, rfcJKT}},
		{"dpop_jkt": {""}},
		{"dpop_jkt": {rfcJKT + "="}},
	} {
		_, err := AuthorizationJKT(bad)
		var e *Error
		if !errors.As(err, &e) || e.Code() != "invalid_request" || e.Status != 400 || !errors.Is(err, ErrInvalidJKT) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}

// TestParseDPoPJKT accepts exactly the canonical 43-character base64url
// encoding of 32 bytes (ALL-11.8-01: SHA-256 only).
func TestParseDPoPJKT(t *testing.T) {
	k := testkit.KeyAlg(t, dpop.EdDSA)
	good := []string{rfcJKT, rfcDPoPJKT, k.Thumbprint(), strings.Repeat("A", 43), strings.Repeat("_", 42) + "w"}
	for _, v := range good {
		if got, err := ParseDPoPJKT(v); err != nil || got != v {
			t.Errorf("%q: %q, %v", v, got, err)
		}
	}
	bad := []string{
		"",
		rfcJKT[:42],       // 42 characters
		rfcJKT + "A",      // 44 characters: not SHA-256 sized
		rfcJKT[:42] + "=", // padding
		"0ZcOCORZNYy+DWpqq30jZyJGHTN0d2HglBV3uiguA4I", // standard alphabet
		"0ZcOCORZNYy/DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
		rfcJKT[:42] + "J",                // non-zero unused bits (I = 8, J = 9)
		rfcJKT[:20] + "\n" + rfcJKT[21:], // line break, which Go's decoder skips
		rfcJKT[:20] + " " + rfcJKT[21:],
		strings.Repeat("A", 86), // SHA-512 sized
	}
	for _, v := range bad {
		_, err := ParseDPoPJKT(v)
		var e *Error
		if !errors.As(err, &e) || e.Code() != "invalid_request" || !errors.Is(err, ErrInvalidJKT) {
			t.Errorf("%q accepted or wrong error: %v", v, err)
		}
	}
}
