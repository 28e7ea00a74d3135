package client

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/dpopkit/dpop"
	"golang.org/x/oauth2"
)

func TestDiscover(t *testing.T) {
	s := newStrictServer(t)
	ctx := context.Background()
	m, err := Discover(ctx, s.URL())
	if err != nil {
		t.Fatal(err)
	}
	if m.TokenEndpoint != s.URL()+"/token" || m.PushedAuthorizationRequestEndpoint != s.URL()+"/par" {
		t.Errorf("metadata %+v", m)
	}
	if got := m.Algorithms(); !reflect.DeepEqual(got, []dpop.Algorithm{dpop.ES256, dpop.PS256}) {
		t.Errorf("algorithms %v", got)
	}
	if ep := m.Endpoint(); ep.TokenURL != m.TokenEndpoint || ep.AuthURL != m.AuthorizationEndpoint {
		t.Errorf("endpoint %+v", ep)
	}

	// M-03: an issuer that differs from the requested one is refused.
	s.issuer = "https://evil.example"
	if _, err := Discover(ctx, s.URL()); !errors.Is(err, ErrIssuerMismatch) {
		t.Errorf("issuer mismatch: %v", err)
	}
	s.issuer = s.URL() + "/"
	if _, err := Discover(ctx, s.URL()); !errors.Is(err, ErrIssuerMismatch) {
		t.Errorf("issuer with trailing slash: %v", err)
	}

	// M-04: no list is "not advertised": ES256 is still chosen.
	s.issuer, s.algs = "", ""
	m, err = Discover(ctx, s.URL())
	if err != nil {
		t.Fatal(err)
	}
	if a, err := ChooseAlgorithm(m.Algorithms()); err != nil || a != dpop.ES256 {
		t.Errorf("no list: %v %v", a, err)
	}

	if _, err := Discover(ctx, "http://example.com"); !errors.Is(err, ErrInsecureURL) {
		t.Errorf("Discover(plain http issuer): got %v, want ErrInsecureURL", err)
	}
	for _, bad := range []string{"https://example.com/?q=1", "https://example.com/#f", "example.com", "https://u@example.com"} {
		if _, err := Discover(ctx, bad); err == nil || errors.Is(err, ErrInsecureURL) {
			t.Errorf("Discover(%q): got %v, want the not-an-issuer-URL refusal", bad, err)
		}
	}
}

// TestDiscoverPathInsertion: an issuer with a path has its well-known URL
// with the path after /.well-known/oauth-authorization-server (RFC 8414 §3.1).
func TestDiscoverPathInsertion(t *testing.T) {
	var gotPath string
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.Path
		writeJSON(w, 200, map[string]any{"issuer": srv.URL + "/tenant/one"})
	}))
	defer srv.Close()
	if _, err := Discover(context.Background(), srv.URL+"/tenant/one"); err != nil {
		t.Fatal(err)
	}
	if gotPath != "/.well-known/oauth-authorization-server/tenant/one" {
		t.Errorf("fetched %q", gotPath)
	}
}

// TestDiscoverOpenIDFallback: a provider that publishes only
// /.well-known/openid-configuration is found there, after a 404 at the RFC
// 8414 location; any other failure at the RFC 8414 location is not retried.
func TestDiscoverOpenIDFallback(t *testing.T) {
	var paths []string
	status := http.StatusNotFound
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		switch r.URL.Path {
		case "/tenant/.well-known/openid-configuration":
			writeJSON(w, 200, map[string]any{"issuer": srv.URL + "/tenant", "token_endpoint": srv.URL + "/tenant/token"})
		default:
			w.WriteHeader(status)
		}
	}))
	defer srv.Close()
	m, err := Discover(context.Background(), srv.URL+"/tenant")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/.well-known/oauth-authorization-server/tenant", "/tenant/.well-known/openid-configuration"}
	if !reflect.DeepEqual(paths, want) || m.TokenEndpoint != srv.URL+"/tenant/token" {
		t.Fatalf("fetched %q, metadata %+v", paths, m)
	}
	paths, status = nil, http.StatusInternalServerError
	if _, err := Discover(context.Background(), srv.URL+"/tenant"); err == nil || len(paths) != 1 {
		t.Fatalf("500 at the RFC 8414 location: %v after %q, want an error after one request", err, paths)
	}
}

func TestChooseAlgorithm(t *testing.T) {
	for _, tc := range []struct {
		server []dpop.Algorithm
		want   dpop.Algorithm
	}{
		{nil, dpop.ES256},
		{[]dpop.Algorithm{dpop.PS256, dpop.ES256}, dpop.ES256},
		{[]dpop.Algorithm{dpop.RS256, dpop.PS256}, dpop.PS256},
		{[]dpop.Algorithm{dpop.ES384}, dpop.ES384},
		{[]dpop.Algorithm{dpop.EdDSA, dpop.RS256}, dpop.EdDSA},
	} {
		if got, err := ChooseAlgorithm(tc.server); err != nil || got != tc.want {
			t.Errorf("%v: %v %v", tc.server, got, err)
		}
	}
}

func TestKeyFor(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := dpop.NewKey(rsaKey, dpop.RS256)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := KeyFor(rk, []dpop.Algorithm{dpop.ES256, dpop.PS256})
	if err != nil || k2.Algorithm() != dpop.PS256 || k2.Thumbprint() != rk.Thumbprint() {
		t.Fatalf("RSA key for PS256: %v %v", k2, err)
	}
	ek := testKey(t)
	if k, err := KeyFor(ek, nil); err != nil || k != ek {
		t.Errorf("empty list: %v", err)
	}
	if k, err := KeyFor(ek, []dpop.Algorithm{dpop.PS256, dpop.ES256}); err != nil || k != ek {
		t.Errorf("listed alg: %v", err)
	}
	if _, err := KeyFor(ek, []dpop.Algorithm{dpop.PS256, dpop.ES384}); !errors.Is(err, ErrNoCommonAlgorithm) {
		t.Errorf("P-256 key, server without ES256: %v", err)
	}
	// Algorithms from a resource server challenge work the same way.
	c, _ := ParseChallenges(`DPoP algs="PS512"`)
	if k, err := KeyFor(rk, c[0].Algorithms()); err != nil || k.Algorithm() != dpop.PS512 {
		t.Errorf("challenge algs: %v %v", k, err)
	}
}

// TestPARConfidentialClient: client_secret_basic at the PAR endpoint, and a
// PAR error surfaced as *Error, wrapping a *dpop.Error.
func TestPARConfidentialClient(t *testing.T) {
	var form url.Values
	var authz string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ = url.ParseQuery(string(b))
		authz = r.Header.Get("Authorization")
		if r.Header.Get("DPoP") == "" {
			t.Error("PAR without proof")
		}
		writeJSON(w, 400, map[string]string{"error": "invalid_request", "error_description": "nope"})
	}))
	defer srv.Close()
	cfg := &oauth2.Config{ClientID: "c i", ClientSecret: "s&t", Endpoint: oauth2.Endpoint{AuthURL: srv.URL + "/authorize?tenant=t1"}}
	ctx := NewContext(context.Background(), &Transport{Key: testKey(t)})
	_, err := PushAuthCodeURL(ctx, cfg, srv.URL+"/par", "st")
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != "invalid_request" || pe.Description != "nope" || pe.StatusCode != 400 {
		t.Fatalf("error %v", err)
	}
	if dpop.ErrorCode(err) != "invalid_request" {
		t.Errorf("dpop.ErrorCode = %q", dpop.ErrorCode(err))
	}
	if msg := err.Error(); !strings.Contains(msg, "HTTP 400 invalid_request: nope") {
		t.Errorf("message %q", msg)
	}
	req := &http.Request{Header: http.Header{"Authorization": {authz}}}
	id, secret, ok := req.BasicAuth()
	if !ok || id != url.QueryEscape("c i") || secret != url.QueryEscape("s&t") {
		t.Errorf("basic auth %q %q", id, secret)
	}
	if form.Get("client_secret") != "" || form.Get("tenant") != "" || form.Get("state") != "st" {
		t.Errorf("form %v", form)
	}
}

func TestPARURLKeepsEndpointQuery(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("client_secret") != "sec" {
			t.Errorf("client_secret in body missing: %v", r.PostForm)
		}
		writeJSON(w, 201, map[string]any{"request_uri": "urn:ietf:params:oauth:request_uri:abc", "expires_in": 30})
	}))
	defer srv.Close()
	cfg := &oauth2.Config{ClientID: "cid", ClientSecret: "sec", Endpoint: oauth2.Endpoint{AuthURL: "https://as.example/authorize?tenant=t1", AuthStyle: oauth2.AuthStyleInParams}}
	ctx := NewContext(context.Background(), &Transport{Key: testKey(t)})
	par, err := PushAuthCodeURL(ctx, cfg, srv.URL+"/par", "st")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(par.URL)
	if u.Query().Get("tenant") != "t1" || u.Query().Get("request_uri") != "urn:ietf:params:oauth:request_uri:abc" || u.Query().Get("client_id") != "cid" || len(u.Query()) != 3 {
		t.Errorf("URL %s", par.URL)
	}
	if strings.Contains(par.URL, "sec") {
		t.Error("secret in the authorization URL")
	}
}

// TestAuthCodeURLDPoPJKT: dpop_jkt on a plain authorization request.
func TestAuthCodeURLDPoPJKT(t *testing.T) {
	k := testKey(t)
	cfg := &oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{AuthURL: "https://as.example/authorize"}}
	u, _ := url.Parse(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), DPoPJKT(k)))
	if u.Query().Get("dpop_jkt") != k.Thumbprint() || u.Query().Get("code_challenge_method") != "S256" {
		t.Errorf("URL %s", u)
	}
}

// opaqueSigner hides the private key behind crypto.Signer, like an HSM.
type opaqueSigner struct{ s crypto.Signer }

func (o opaqueSigner) Public() crypto.PublicKey { return o.s.Public() }
func (o opaqueSigner) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.s.Sign(r, d, opts)
}

func newOpaqueKey(t *testing.T) *dpop.Key {
	t.Helper()
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := dpop.NewKey(opaqueSigner{pk}, dpop.ES256)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
