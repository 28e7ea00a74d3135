package authserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/dpopkit/dpop"
)

const (
	testTokenURL = "https://server.example.com/token"
	testPARURL   = "https://server.example.com/par"
	testRSURL    = "https://resource.example.org/protectedresource"
)

// testSecret is shared by the authorization server's and a resource
// server's nonce sources in the cross-scope tests.
var testSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")

func nonceSource(t testing.TB, scope string) *dpop.HMACNonceSource {
	t.Helper()
	s, err := dpop.NewHMACNonceSource(dpop.HMACNonceOptions{Secret: testSecret, Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newAS returns an AS for testTokenURL and testPARURL whose verifier has
// the given options.
func newAS(t testing.TB, vo dpop.VerifierOptions, edit func(*Options)) *AS {
	t.Helper()
	v, err := dpop.NewVerifier(vo)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Verifier: v, TokenURL: testTokenURL, PARURL: testPARURL}
	if edit != nil {
		edit(&o)
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// post builds a form POST to path carrying the given DPoP header lines.
func post(path string, form url.Values, proofs ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	return r
}

// tokenResult is what the test token endpoint answers on success.
type tokenResult struct {
	JKT             string `json:"jkt"`
	TokenType       string `json:"token_type"`
	RefreshTokenJKT string `json:"refresh_jkt"`
	HasProof        bool   `json:"has_proof"`
}

// serveToken runs a token endpoint built on a.TokenRequest for r and
// returns the recorded response and the error TokenRequest returned.
func serveToken(a *AS, r *http.Request, req TokenRequest) (*httptest.ResponseRecorder, error) {
	w := httptest.NewRecorder()
	b, err := a.TokenRequest(r.Context(), r, req)
	if err != nil {
		WriteError(w, err)
		return w, err
	}
	if err := a.IssueNonce(r.Context(), w); err != nil {
		WriteError(w, err)
		return w, err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(tokenResult{b.JKT, b.TokenType, b.RefreshTokenJKT, b.Proof != nil})
	return w, nil
}

// servePAR runs a PAR endpoint built on a.PARRequest.
func servePAR(a *AS, r *http.Request) (*httptest.ResponseRecorder, string, error) {
	w := httptest.NewRecorder()
	if err := r.ParseForm(); err != nil {
		panic(err)
	}
	jkt, err := a.PARRequest(r.Context(), r, r.PostForm)
	if err != nil {
		WriteError(w, err)
		return w, "", err
	}
	w.WriteHeader(http.StatusCreated)
	return w, jkt, nil
}

// errorJSON decodes an RFC 6749 §5.2 body, failing on unknown members.
func errorJSON(t *testing.T, w *httptest.ResponseRecorder) (code, desc string) {
	t.Helper()
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	d := json.NewDecoder(w.Body)
	d.DisallowUnknownFields()
	if err := d.Decode(&body); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	return body.Error, body.Description
}

// checkErrorResponse asserts an RFC 6749 §5.2 error response.
func checkErrorResponse(t *testing.T, w *httptest.ResponseRecorder, status int, code string, wantNonce bool) {
	t.Helper()
	if w.Code != status {
		t.Errorf("status %d, want %d (body %s)", w.Code, status, w.Body.String())
	}
	if got := w.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q", got)
	}
	if got := w.Header().Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}
	nonces := w.Header().Values("DPoP-Nonce")
	switch {
	case wantNonce && (len(nonces) != 1 || !dpop.IsValidNonce(nonces[0])):
		t.Errorf("DPoP-Nonce %q, want exactly one valid nonce", nonces)
	case !wantNonce && len(nonces) != 0:
		t.Errorf("DPoP-Nonce %q, want none", nonces)
	}
	if got, _ := errorJSON(t, w); got != code {
		t.Errorf("error %q, want %q", got, code)
	}
}

// withNonce sets the nonce of e's OAuth error.
func withNonce(e *Error, nonce string) *Error {
	e.Err.Nonce = nonce
	return e
}
