package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/testkit"
)

// TestTokenRequest covers the token endpoint rules of RFC 9449 §5, §5.2, §8
// and §10 through a token endpoint built on TokenRequest and WriteError:
// each case checks the status, the JSON error code, Cache-Control and
// DPoP-Nonce, the wrapped sentinel and, on success, the binding.
func TestTokenRequest(t *testing.T) {
	ctx := context.Background()
	kA := testkit.KeyAlg(t, dpop.ES256)
	kB := testkit.KeyAlg(t, dpop.ES256)
	kEd := testkit.KeyAlg(t, dpop.EdDSA)
	asNonces := nonceSource(t, "as")
	rsNonces := nonceSource(t, "rs")
	jkt := map[string]string{"": "", "A": kA.Thumbprint(), "B": kB.Thumbprint()}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {"c"}}

	public := Client{ID: "spa", Public: true}
	confidential := Client{ID: "web"}
	boundClient := Client{ID: "strict", Public: true, DPoPBoundAccessTokens: true}
	always := func(context.Context, TokenRequest, *dpop.Proof) bool { return true }

	proofA := func() []string { return []string{testkit.Proof(t, kA, "POST", testTokenURL)} }
	proofB := func() []string { return []string{testkit.Proof(t, kB, "POST", testTokenURL)} }
	none := func() []string { return nil }

	cases := []struct {
		name   string
		nonces bool // the verifier requires nonces of scope "as"
		algs   []dpop.Algorithm
		edit   func(*Options)
		req    TokenRequest
		proofs func() []string

		status     int
		code       string // "" = success
		wantNonce  bool
		is         error
		jkt, rtJKT string // "A", "B" or ""
		tokenType  string
	}{
		// AS-5-01: a DPoP header that is not a valid proof → 400 invalid_dpop_proof.
		{name: "AS-5-01/htu of another endpoint", req: TokenRequest{Client: confidential},
			proofs: func() []string { return []string{testkit.Proof(t, kA, "POST", testRSURL)} },
			status: 400, code: "invalid_dpop_proof", is: dpop.ErrHTUMismatch},
		{name: "AS-5-01/htu of the PAR endpoint", req: TokenRequest{Client: confidential},
			proofs: func() []string { return []string{testkit.Proof(t, kA, "POST", testPARURL)} },
			status: 400, code: "invalid_dpop_proof", is: dpop.ErrHTUMismatch},
		{name: "AS-5-01/htm GET", req: TokenRequest{Client: confidential},
			proofs: func() []string { return []string{testkit.Proof(t, kA, "GET", testTokenURL)} },
			status: 400, code: "invalid_dpop_proof", is: dpop.ErrHTMMismatch},
		{name: "AS-5-01/two DPoP fields", req: TokenRequest{Client: confidential},
			proofs: func() []string { return append(proofA(), proofA()...) },
			status: 400, code: "invalid_dpop_proof", is: dpop.ErrMultipleProofs},
		{name: "AS-5-01/empty DPoP field", req: TokenRequest{Client: confidential},
			proofs: func() []string { return []string{""} },
			status: 400, code: "invalid_dpop_proof", is: dpop.ErrMalformed},
		{name: "AS-5-01/not a JWS", req: TokenRequest{Client: confidential},
			proofs: func() []string { return []string{"not-a-proof"} },
			status: 400, code: "invalid_dpop_proof", is: dpop.ErrMalformed},
		{name: "AS-5-01/too old", req: TokenRequest{Client: confidential},
			proofs: func() []string {
				return []string{testkit.Proof(t, kA, "POST", testTokenURL, dpop.WithIssuedAt(time.Now().Add(-time.Hour)))}
			},
			status: 400, code: "invalid_dpop_proof", is: dpop.ErrIATTooOld},
		{name: "AS-5-01/alg not on the allow-list", algs: []dpop.Algorithm{dpop.ES256}, req: TokenRequest{Client: confidential},
			proofs: func() []string { return []string{testkit.Proof(t, kEd, "POST", testTokenURL)} },
			status: 400, code: "invalid_dpop_proof", is: dpop.ErrUnsupportedAlg},
		{name: "AS-5-01/bad proof, grant bound: invalid_dpop_proof first", req: TokenRequest{Client: public, GrantJKT: jkt["A"]},
			proofs: func() []string { return []string{testkit.Proof(t, kB, "POST", testRSURL)} },
			status: 400, code: "invalid_dpop_proof", is: dpop.ErrHTUMismatch},

		// AS-5-02, AS-5-03, AS-5-07: bound access token, DPoP token type;
		// a confidential client's refresh token is not bound.
		{name: "AS-5-02/confidential client", req: TokenRequest{Client: confidential, GrantType: "authorization_code"},
			proofs: proofA, status: 200, jkt: "A", tokenType: "DPoP"},
		{name: "AS-5-07/confidential refresh with a new key", req: TokenRequest{Client: confidential, GrantType: "refresh_token"},
			proofs: proofB, status: 200, jkt: "B", tokenType: "DPoP"},
		{name: "AS-5-02/client_credentials", req: TokenRequest{Client: confidential, GrantType: "client_credentials"},
			proofs: proofA, status: 200, jkt: "A", tokenType: "DPoP"},

		// AS-5-04: a public client's refresh token is bound.
		{name: "AS-5-04/public client", req: TokenRequest{Client: public, GrantType: "authorization_code"},
			proofs: proofA, status: 200, jkt: "A", rtJKT: "A", tokenType: "DPoP"},

		// AS-5-05: a bound refresh token needs the same key.
		{name: "AS-5-05/refresh with the bound key", req: TokenRequest{Client: public, GrantType: "refresh_token", GrantJKT: jkt["A"]},
			proofs: proofA, status: 200, jkt: "A", rtJKT: "A", tokenType: "DPoP"},
		{name: "AS-5-05/refresh with another key", req: TokenRequest{Client: public, GrantType: "refresh_token", GrantJKT: jkt["A"]},
			proofs: proofB, status: 400, code: "invalid_grant", is: dpop.ErrKeyMismatch},
		{name: "AS-5-05/refresh without a proof", req: TokenRequest{Client: public, GrantType: "refresh_token", GrantJKT: jkt["A"]},
			proofs: none, status: 400, code: "invalid_dpop_proof", is: ErrProofRequired},

		// AS-5-06: the Bearer fallback.
		{name: "AS-5-06/public client keeps a bound refresh token", edit: func(o *Options) { o.BearerFallback = always },
			req: TokenRequest{Client: public}, proofs: proofA, status: 200, rtJKT: "A", tokenType: "Bearer"},
		{name: "AS-5-06/confidential client", edit: func(o *Options) { o.BearerFallback = always },
			req: TokenRequest{Client: confidential}, proofs: proofA, status: 200, tokenType: "Bearer"},
		{name: "AS-5-06/not for dpop_bound_access_tokens clients", edit: func(o *Options) { o.BearerFallback = always },
			req: TokenRequest{Client: boundClient}, proofs: proofA, status: 200, jkt: "A", rtJKT: "A", tokenType: "DPoP"},
		{name: "AS-5-06/policy says no", edit: func(o *Options) {
			o.BearerFallback = func(_ context.Context, r TokenRequest, _ *dpop.Proof) bool { return r.Client.ID != "spa" }
		}, req: TokenRequest{Client: public}, proofs: proofA, status: 200, jkt: "A", rtJKT: "A", tokenType: "DPoP"},
		{name: "AS-5-06/grant key still checked", edit: func(o *Options) { o.BearerFallback = always },
			req: TokenRequest{Client: public, GrantJKT: jkt["A"]}, proofs: proofB, status: 400, code: "invalid_grant", is: dpop.ErrKeyMismatch},

		// AS-5.2-02 (A4): no DPoP header.
		{name: "AS-5.2-02/dpop_bound_access_tokens client without proof", req: TokenRequest{Client: boundClient},
			proofs: none, status: 400, code: "invalid_dpop_proof", is: dpop.ErrMissingProof},
		{name: "AS-5.2-02/RequireDPoP without proof", edit: func(o *Options) { o.RequireDPoP = true },
			req: TokenRequest{Client: confidential}, proofs: none, status: 400, code: "invalid_dpop_proof", is: ErrProofRequired},
		{name: "AS-5.2-02/dpop_bound_access_tokens client with proof", req: TokenRequest{Client: boundClient},
			proofs: proofA, status: 200, jkt: "A", rtJKT: "A", tokenType: "DPoP"},
		{name: "no proof, nothing requires one: Bearer", req: TokenRequest{Client: public},
			proofs: none, status: 200, tokenType: "Bearer"},

		// AS-10-02: a code bound by dpop_jkt (or a PAR proof).
		{name: "AS-10-02/code redeemed with its key", req: TokenRequest{Client: confidential, GrantType: "authorization_code", GrantJKT: jkt["A"]},
			proofs: proofA, status: 200, jkt: "A", tokenType: "DPoP"},
		{name: "AS-10-02/code redeemed with another key", req: TokenRequest{Client: confidential, GrantType: "authorization_code", GrantJKT: jkt["A"]},
			proofs: proofB, status: 400, code: "invalid_grant", is: dpop.ErrKeyMismatch},
		{name: "AS-10-02/code redeemed without a proof", req: TokenRequest{Client: confidential, GrantType: "authorization_code", GrantJKT: jkt["A"]},
			proofs: none, status: 400, code: "invalid_dpop_proof", is: dpop.ErrMissingProof},

		// AS-8-02, AS-8-04, AS-8-06, ALL-11.3-01: nonces.
		{name: "AS-8-02/nonce missing", nonces: true, req: TokenRequest{Client: public},
			proofs: proofA, status: 400, code: "use_dpop_nonce", wantNonce: true, is: dpop.ErrNonceRequired},
		{name: "AS-8-06/nonce of the resource server (other scope, same secret)", nonces: true, req: TokenRequest{Client: public},
			proofs: func() []string {
				n, _ := rsNonces.Nonce(ctx)
				return []string{testkit.Proof(t, kA, "POST", testTokenURL, dpop.WithNonce(n))}
			}, status: 400, code: "use_dpop_nonce", wantNonce: true, is: dpop.ErrNonceInvalid},
		{name: "AS-8-04/nonce made up", nonces: true, req: TokenRequest{Client: public},
			proofs: func() []string {
				return []string{testkit.Proof(t, kA, "POST", testTokenURL, dpop.WithNonce("eyJ7S_zG.eyJH0-Z.HX4w-7v"))}
			},
			status: 400, code: "use_dpop_nonce", wantNonce: true, is: dpop.ErrNonceInvalid},
		{name: "AS-8-06/current nonce", nonces: true, req: TokenRequest{Client: public},
			proofs: func() []string {
				n, _ := asNonces.Nonce(ctx)
				return []string{testkit.Proof(t, kA, "POST", testTokenURL, dpop.WithNonce(n))}
			}, status: 200, wantNonce: true, jkt: "A", rtJKT: "A", tokenType: "DPoP"},
		{name: "nonce: bad proof is still invalid_dpop_proof", nonces: true, req: TokenRequest{Client: public},
			proofs: func() []string { return []string{testkit.Proof(t, kA, "GET", testTokenURL)} },
			status: 400, code: "invalid_dpop_proof", is: dpop.ErrHTMMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vo := dpop.VerifierOptions{Algorithms: tc.algs}
			if tc.nonces {
				vo.Nonces = asNonces
			}
			a := newAS(t, vo, tc.edit)
			r := post("/token", form, tc.proofs()...)
			w, err := serveToken(a, r, tc.req)
			if tc.code != "" {
				checkErrorResponse(t, w, tc.status, tc.code, tc.wantNonce)
				var e *Error
				if !errors.As(err, &e) || e.Code() != tc.code || e.Status != tc.status {
					t.Fatalf("error %#v, want *Error %s %d", err, tc.code, tc.status)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("error %v does not wrap %v", err, tc.is)
				}
				return
			}
			if err != nil || w.Code != 200 {
				t.Fatalf("status %d, err %v, body %s", w.Code, err, w.Body.String())
			}
			var got tokenResult
			if err := json.NewDecoder(w.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			want := tokenResult{jkt[tc.jkt], tc.tokenType, jkt[tc.rtJKT], tc.proofs != nil && len(tc.proofs()) > 0}
			if got != want {
				t.Errorf("binding %+v, want %+v", got, want)
			}
			if n := w.Header().Values("DPoP-Nonce"); (len(n) == 1) != tc.wantNonce || len(n) > 1 {
				t.Errorf("DPoP-Nonce on success %q, want one: %v", n, tc.wantNonce)
			}
			if tc.wantNonce && w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q with a nonce", w.Header().Get("Cache-Control"))
			}
		})
	}
}

// TestTokenNonceResponse pins the use_dpop_nonce response to RFC 9449
// Figure 20 (§8): 400, the exact JSON body, no-store and a
// single DPoP-Nonce, even when the handler had already set one (AS-8-05).
// The nonce it carries is then accepted (AS-8-06).
func TestTokenNonceResponse(t *testing.T) {
	a := newAS(t, dpop.VerifierOptions{Nonces: nonceSource(t, "as")}, nil)
	k := testkit.KeyAlg(t, dpop.ES256)
	r := post("/token", nil, testkit.Proof(t, k, "POST", testTokenURL))
	w := httptest.NewRecorder()
	w.Header().Set("DPoP-Nonce", "stale-value-set-by-the-handler")
	_, err := a.TokenRequest(r.Context(), r, TokenRequest{Client: Client{Public: true}})
	WriteError(w, err)
	if w.Code != 400 {
		t.Fatalf("status %d", w.Code)
	}
	const body = `{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof"}`
	if got := w.Body.String(); got != body {
		t.Errorf("body %s\nwant %s", got, body)
	}
	nonces := w.Header().Values("DPoP-Nonce")
	if len(nonces) != 1 || nonces[0] == "stale-value-set-by-the-handler" || !dpop.IsValidNonce(nonces[0]) {
		t.Fatalf("DPoP-Nonce %q", nonces)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	var e *Error
	if !errors.As(err, &e) || e.Err.Nonce != nonces[0] {
		t.Errorf("Error.Nonce %q, header %q", e.Err.Nonce, nonces[0])
	}

	// The retry with the nonce passes (AS-8-06).
	r = post("/token", nil, testkit.Proof(t, k, "POST", testTokenURL, dpop.WithNonce(nonces[0])))
	b, err := a.TokenRequest(r.Context(), r, TokenRequest{Client: Client{Public: true}})
	if err != nil || b.JKT != k.Thumbprint() || b.Proof.Nonce != nonces[0] {
		t.Fatalf("retry: %+v, %v", b, err)
	}
}

// TestTokenReplay: a proof accepted once is refused the second time
// (ALL-11.1-02 at the token endpoint), with invalid_dpop_proof.
func TestTokenReplay(t *testing.T) {
	a := newAS(t, dpop.VerifierOptions{}, nil)
	k := testkit.KeyAlg(t, dpop.ES256)
	p := testkit.Proof(t, k, "POST", testTokenURL)
	if w, err := serveToken(a, post("/token", nil, p), TokenRequest{}); err != nil {
		t.Fatalf("first use: %v %s", err, w.Body.String())
	}
	w, err := serveToken(a, post("/token", nil, p), TokenRequest{})
	checkErrorResponse(t, w, 400, "invalid_dpop_proof", false)
	if !errors.Is(err, dpop.ErrReplay) {
		t.Errorf("error %v, want ErrReplay", err)
	}
}

// TestTokenStoreUnavailable: when the replay store fails the client is not
// blamed: 503 temporarily_unavailable.
func TestTokenStoreUnavailable(t *testing.T) {
	a := newAS(t, dpop.VerifierOptions{Replay: testkit.FailingStore{}}, nil)
	k := testkit.KeyAlg(t, dpop.ES256)
	w, err := serveToken(a, post("/token", nil, testkit.Proof(t, k, "POST", testTokenURL)), TokenRequest{})
	checkErrorResponse(t, w, 503, "temporarily_unavailable", false)
	if !errors.Is(err, dpop.ErrStoreUnavailable) {
		t.Errorf("error %v, want ErrStoreUnavailable", err)
	}
}

// RFC 9449 example values (Figures 5 and 25).
const (
	rfcTokenProof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
	rfcJKT        = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	// rfcDPoPJKT is the dpop_jkt of RFC 9449 Figure 25: the RFC 7638 RSA
	// example key, not the key of rfcTokenProof.
	rfcDPoPJKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
)

// TestRFCExampleTokenRequest replays the RFC 9449 Figure 5 token request
// (clock frozen at its iat) and redeems it against the Figure 25 dpop_jkt,
// which names another key (RFC 9449 §10; AS-6.1-01).
func TestRFCExampleTokenRequest(t *testing.T) {
	at := func() time.Time { return time.Unix(1562262616, 0) }
	cases := []struct {
		name     string
		grantJKT string
		status   int
		code     string
	}{
		{"unbound code", "", 200, ""},
		{"code bound to the proof key", rfcJKT, 200, ""},
		{"code bound to the Figure 25 dpop_jkt", rfcDPoPJKT, 400, "invalid_grant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newAS(t, dpop.VerifierOptions{Now: at}, nil)
			r := post("/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {"s6BhdRkqt"}, "code": {"SplxlOBeZQQYbYS6WxSbIA"}}, rfcTokenProof)
			r.Host = "server.example.com"
			w, err := serveToken(a, r, TokenRequest{Client: Client{ID: "s6BhdRkqt", Public: true}, GrantType: "authorization_code", GrantJKT: tc.grantJKT})
			if tc.code != "" {
				checkErrorResponse(t, w, tc.status, tc.code, false)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got tokenResult
			_ = json.NewDecoder(w.Body).Decode(&got)
			if want := (tokenResult{rfcJKT, "DPoP", rfcJKT, true}); got != want {
				t.Errorf("%+v, want %+v", got, want)
			}
		})
	}
}
